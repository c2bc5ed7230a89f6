"""The ``litert-*`` rows: LiteRT (TF Lite) flatbuffers (``.tflite``), Android's default runtime.

    litert_torch.convert(prepared module, example) -> fp32 .tflite
        fp16: ai-edge-quantizer, weights cast to float16 (computed in float32)
        int8: ai-edge-quantizer static int8 weights and activations, calibrated on the face crops (each with its
              hard variants); the input and output stay int8 with their scale and zero point in the file, as
              Android's int8 models are (the backend and the demo app quantize the crop with them)

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

from edge_sdk.fileio import atomic_path

# Recipes written out here (ai-edge-quantizer has no function for them). float_casting: every op's weights to
# float16, arithmetic in float32
RECIPES = {"float_casting": [{"regex": ".*", "operation": "*", "algorithm_key": "float_casting",
                "op_config": {"weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT"}, "compute_precision": "FLOAT",
                              "explicit_dequantize": True}}]}


@contextlib.contextmanager
def _quiet():
    """litert-torch and ai-edge-quantizer print progress (rich, tqdm) to the console: not the SDK's lines."""
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
        yield


def operators(path: Path) -> dict[str, int]:
    """Operator counts of a .tflite (builtin names; custom ops by their own name)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(Path(path).read_bytes(), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = [names.get(max(c.builtinCode, c.deprecatedBuiltinCode), str(c.builtinCode)) if not c.customCode else
             c.customCode.decode() for c in model.operatorCodes]
    return dict(sorted(Counter(codes[op.opcodeIndex] for g in model.subgraphs for op in g.operators).items()))


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
            from ai_edge_litert.interpreter import Interpreter
            from ai_edge_quantizer import quantizer, recipe

            t = time.perf_counter()
            q = quantizer.Quantizer(str(float_path))
            q.load_quantization_recipe(RECIPES.get(recipe_name) or getattr(recipe, recipe_name)())
            info["quantization"] = {"tool": f"ai-edge-quantizer {versions(('ai-edge-quantizer',))['ai-edge-quantizer']}",
                                    "recipe": recipe_name}
            calibration = None
            if target.calibration:  # static: activation ranges from the calibration crops
                (key, sig), = Interpreter(model_path=str(float_path)).get_signature_list().items()
                (name,) = sig["inputs"]
                calib = [{name: np.asarray(b, np.float32)} for b in ctx["calib"].batches(1)]
                with _quiet():
                    calibration = q.calibrate({key: calib})
                info["quantization"].update(calibration_inputs=len(calib), io="int8 (scale, zero point in the file)")
            with _quiet():
                result = q.quantize(calibration, enable_progress_report=False)
            result.export_model(str(tmp), overwrite=True)
            steps["quantize_s"] = round(time.perf_counter() - t, 2)
        info["operators"] = operators(tmp)
    return {"steps": steps, **info}

