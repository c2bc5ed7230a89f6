"""The ``litert-*`` rows: LiteRT (TF Lite) flatbuffers (``.tflite``), Android's default runtime.

    litert_torch.convert(prepared module, example) -> fp32 .tflite
        fp16: ai-edge-quantizer, weights cast to float16 (computed in float32)
        int8: ai-edge-quantizer static int8 weights and activations, calibrated on the face crops (each with its
              hard variants; each range is the min and max over them, see calibrate); the input and output stay
              int8 with their scale and zero point in the file, as Android's int8 models are (the backend and the
              demo app quantize the crop with them)

``litert-torch`` pins ``xdsl==0.28`` (typing-extensions < 4.13), which tyro, the CLI's parser, cannot live with; the
conversion runs with a newer typing-extensions (tested), so ``make install`` installs it in its own step and puts
the newer typing-extensions back (docs/install.md). The runtime extra (``[litert]``) is ``ai-edge-litert`` alone.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from pathlib import Path

from edge_sdk.card import kept_float_kinds
from edge_sdk.fileio import atomic_path

# Recipes written out here (ai-edge-quantizer has no function for them). float_casting: every op's weights to
# float16, arithmetic in float32
RECIPES = {"float_casting": [{"regex": ".*", "operation": "*", "algorithm_key": "float_casting",
                "op_config": {"weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT"}, "compute_precision": "FLOAT",
                              "explicit_dequantize": True}}]}


# The card's int8_float kinds as ai-edge-quantizer rules appended to the recipe (a later rule wins): softmax and
# GELU by their TFLite op, layer norm, which litert-torch decomposes (MEAN, SQUARED_DIFFERENCE, RSQRT, ...), by
# the module path its tensors are named after
KIND_RULES = {"layer_norm": (r".*\.LayerNorm_.*", "*"), "softmax": (".*", "SOFTMAX"), "gelu": (".*", "GELU")}
KIND_OPS = {"layer_norm": ("RSQRT",), "softmax": ("SOFTMAX",), "gelu": ("GELU",)}  # RSQRT: one per layer norm


def with_float_kinds(model_recipe: list, kinds) -> list:
    return [*model_recipe, *({"regex": KIND_RULES[k][0], "operation": KIND_RULES[k][1], "algorithm_key": "no_quantize"}
                             for k in kinds)]


def _ops(path: Path) -> list[tuple[str, bool]]:
    """Each operator of a .tflite: its name (builtin, or a custom op's own) and whether an input tensor is int8."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(Path(path).read_bytes(), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    ints = {schema.TensorType.INT8, schema.TensorType.UINT8}
    out = []
    for g in model.subgraphs:
        for op in g.operators:
            code = model.operatorCodes[op.opcodeIndex]
            name = code.customCode.decode() if code.customCode else names.get(
                max(code.builtinCode, code.deprecatedBuiltinCode), str(code.builtinCode))
            out.append((name, any(g.tensors[i].type in ints for i in op.inputs if i >= 0)))
    return out


def op_precisions(ops: list[tuple[str, bool]]) -> dict:
    """Operators (``_ops``) that compute on int8 tensors and those left in float, with counts."""
    out = {"quantized": Counter(), "float": Counter()}
    for name, int8_input in ops:
        if name not in ("QUANTIZE", "DEQUANTIZE"):
            out["quantized" if int8_input else "float"][name] += 1
    return {k: dict(sorted(v.items())) for k, v in out.items()}


@contextlib.contextmanager
def _quiet():
    """litert-torch and ai-edge-quantizer print progress (rich, tqdm) to the console: not the SDK's lines."""
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
        yield


def operators(ops: list[tuple[str, bool]]) -> dict[str, int]:
    """Operator counts of a .tflite (``_ops``: builtin names; custom ops by their own name)."""
    return dict(sorted(Counter(name for name, _ in ops).items()))


def calibrate(float_path: Path, inputs, model_recipe) -> dict:
    """Activation ranges of the float .tflite over ``inputs`` (arrays of its one input), for a static recipe.

    Each range is the min and max over all the inputs, as ONNX Runtime's and NNCF's calibrators take it.
    ``Quantizer.calibrate`` keeps a moving average of each input's own min and max instead, which is made for
    large calibration batches: fed one crop at a time (the file's batch is 1), the one-value logit's range
    collapses to about the last crops' logit, and every logit outside it clips (seen here: a trained student's
    range became [0, 4.0] when its logits spanned [-17, 26], and 13% of face decisions agreed).
    """
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import calibrator, recipe_manager
    from ai_edge_quantizer.utils import qsv_utils

    (key, sig), = Interpreter(model_path=str(float_path)).get_signature_list().items()
    (name,) = sig["inputs"]
    manager = recipe_manager.RecipeManager()
    manager.load_quantization_recipe(model_recipe)
    calib = calibrator.Calibrator(str(float_path), qsv_update_func=qsv_utils.min_max_update)
    with _quiet():
        calib.calibrate({key: [{name: x} for x in inputs]}, manager)
    return calib.get_model_qsvs()


def build(prep, path: Path, target, opts, ctx: dict) -> dict:
    import litert_torch
    import numpy as np

    from edge_sdk.versions import versions  # litert-torch's and ai-edge-litert's are in every manifest already

    steps, info = {}, {}
    recipe_name = target.options.get("recipe")  # an ai-edge-quantizer recipe, or None: float
    with atomic_path(path) as tmp:
        float_path = tmp if recipe_name is None else Path(ctx["workdir"]) / f"{prep.name}.litert-float.tflite"
        t = time.perf_counter()
        with _quiet():
            litert_torch.convert(prep.module, (prep.example(),)).export(str(float_path))
        steps["convert_s"] = round(time.perf_counter() - t, 2)
        if recipe_name is not None:
            from ai_edge_quantizer import quantizer, recipe

            t = time.perf_counter()
            q = quantizer.Quantizer(str(float_path))
            kinds = prep.card.int8_float if target.calibration else ()
            q.load_quantization_recipe(with_float_kinds(RECIPES.get(recipe_name) or getattr(recipe, recipe_name)(),
                                                        kinds))
            info["quantization"] = {"tool": f"ai-edge-quantizer {versions(('ai-edge-quantizer',))['ai-edge-quantizer']}",
                                    "recipe": recipe_name}
            calibration = None
            if target.calibration:  # static: activation ranges from the calibration crops
                calib = [np.asarray(b, np.float32) for b in ctx["calib"].batches(1)]
                calibration = calibrate(float_path, calib, q.get_quantization_recipe())
                info["quantization"].update(calibration_inputs=len(calib), ranges="min / max over the inputs",
                                            io="int8 (scale, zero point in the file)")
            with _quiet():
                result = q.quantize(calibration, enable_progress_report=False)
            result.export_model(str(tmp), overwrite=True)
            steps["quantize_s"] = round(time.perf_counter() - t, 2)
        ops = _ops(tmp)  # the file parsed once for both reports
        info["operators"] = operators(ops)
        if recipe_name is not None and target.calibration:
            precisions = info["quantization"]["ops"] = op_precisions(ops)
            if kinds:
                info["quantization"]["kept_float_kinds"] = kept_float_kinds(precisions, KIND_OPS, kinds)
    return {"steps": steps, **info}

