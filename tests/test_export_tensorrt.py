"""TensorRT 10 readiness: the operator-table check (runs anywhere) and engine builds (skip without TensorRT).

The table is ../shared/fixtures/tensorrt10_onnx_operators.csv, passed by path (never copied here).
"""

from __future__ import annotations

import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_sdk.errors import MissingDependencyError
from edge_sdk.cli import main as cli_main
from edge_sdk.export.tensorrt import (
    UNCHECKED,
    build_engine,
    check_onnx_for_tensorrt,
    format_report,
    load_operator_table,
    tensorrt_version,
)

from .conftest import reference_inputs, shared_path


@pytest.fixture(scope="module")
def table_csv():
    return shared_path("fixtures", "tensorrt10_onnx_operators.csv")


def _save(tmp_path, nodes, inputs, outputs, inits=(), opset=18, name="g", extra_opsets=()):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), *extra_opsets])
    model.ir_version = 9
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def _f32(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


# --------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------


def test_operator_table_parses_into_checkable_rules(table_csv):
    table = load_operator_table(table_csv)
    assert len(table) > 150
    conv = table["Conv"]
    assert conv.supported and conv.types == ("FP32", "FP16", "BF16") and not conv.restrictions
    assert not table["AffineGrid"].supported and not table["Unique"].supported
    assert table["DequantizeLinear"].types == ("INT8", "FP8", "INT4")
    assert "INT64" in table["ConstantOfShape"].types  # the table spells it "INF64"
    assert table["Selu"].types == ("FP32", "FP16", "BF16")  # trailing comma in the table
    # Restriction sentences become checks: which kind, on what.
    checks = {op: [(r.check, r.args[:1]) for r in rule.restrictions] for op, rule in table.items()}
    assert checks["Unsqueeze"] == [("constant", ("axes",))]
    assert checks["Dropout"] == [("constant", ("training_mode",))]  # the table's "is_traning"
    assert ("output_absent", ("Indices",)) in checks["MaxPool"]
    assert ("equals", ("sorted",)) in checks["TopK"] and ("less_than", ("K",)) in checks["TopK"]
    assert [c for c, _ in checks["Resize"]] == ["attr_in"] * 4 + ["resize_axes_iota", "equals"]
    # Every sentence of the table is checked except one, which is reported, never passed silently.
    unchecked = {op: rule.unchecked for op, rule in table.items() if rule.unchecked}
    assert unchecked == {"Loop": ("The shape of Loop carried dependencies must be the same across all loop "
                                  "iterations.",)}


def test_missing_table_is_a_clear_error(tmp_path):
    from edge_sdk.errors import InputError

    with pytest.raises(InputError, match="operator table not found"):
        load_operator_table(tmp_path / "nope.csv")


# --------------------------------------------------------------------------------------------------
# Real models
# --------------------------------------------------------------------------------------------------


def test_b0_onnx_passes_the_check(b0_artifacts, table_csv):
    report = check_onnx_for_tensorrt(b0_artifacts["onnx"], table_csv)
    assert report["ok"], format_report(report)
    assert report["offenders"] == [] and report["unchecked"] == [] and report["fully_checked"]
    assert report["opset"] == 18 and report["qdq"] is None
    assert report["dynamic_inputs"] == {"input": ["batch", 3, 224, 224]}
    counts = report["op_counts"]
    assert counts["Conv"] > 100 and counts["LayerNormalization"] > 0 and counts["ReduceMean"] > 0
    assert report["nodes"] == sum(counts.values())
    # dtypes after shape inference: float math in fp32, shape arithmetic in int64; all in the table's lists
    assert report["dtypes"]["Conv"] == {"used": ["FP32"], "supported": ["FP32", "FP16", "BF16"]}
    assert report["dtypes"]["Range"]["used"] == ["INT64"]
    assert all(set(v["used"]) <= set(v["supported"]) for v in report["dtypes"].values())
    assert "— OK" in format_report(report)


# --------------------------------------------------------------------------------------------------
# Q/DQ models from ONNX Runtime's static quantizer
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_float_onnx(tmp_path_factory):
    """Conv-ReLU-Conv-GAP-Gemm, dynamic batch: small enough to quantize in milliseconds."""
    rng = np.random.default_rng(0)

    def init(name, *shape):
        return numpy_helper.from_array((0.3 * rng.standard_normal(shape)).astype(np.float32), name)

    nodes = [helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["c2"], ["p"], name="pool"),
             helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "w3", "b3"], ["logit"], name="fc", transB=1)]
    inits = [init("w1", 8, 3, 3, 3), init("b1", 8), init("w2", 8, 8, 3, 3), init("b2", 8), init("w3", 1, 8),
             init("b3", 1)]
    path = _save(tmp_path_factory.mktemp("qdq"), nodes, [_f32("input", ["batch", 3, 16, 16])],
                 [_f32("logit", ["batch", 1])], inits, name="small")
    onnx.checker.check_model(str(path), full_check=True)
    return path


def _quantize(src, dst, symmetric: bool, **extra):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    rng = np.random.default_rng(1)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": rng.standard_normal((2, 3, 16, 16)).astype(np.float32)} for _ in range(4)])

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8, weight_type=QuantType.QInt8,
                    extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True, **extra})
    return dst


def _zero_points(path):
    """Q/DQ node name -> (zero point dtype, values), read straight from the file."""
    model = onnx.load(str(path))
    inits = {i.name: i for i in model.graph.initializer}
    out = {}
    for n in model.graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2 and n.input[2] in inits:
            zp = inits[n.input[2]]
            out[n.name] = (zp.data_type, numpy_helper.to_array(zp))
    return out


def test_symmetric_int8_qdq_passes_the_zero_point_check(small_float_onnx, table_csv, tmp_path):
    path = _quantize(small_float_onnx, tmp_path / "sym.onnx", symmetric=True)
    report = check_onnx_for_tensorrt(path, table_csv)
    q = report["qdq"]
    assert q["zero_points_all_zero"] and q["scales_positive"]
    assert q["quantize_nodes"] > 0 and q["dequantize_nodes"] > q["quantize_nodes"]  # weights: DQ only
    assert q["per_channel"] >= 2 and set(q["per_channel_axes"]) == {"0"}  # conv weights along output channels
    assert not any("zero point" in o["reason"] or "uint8" in o["reason"] for o in report["offenders"])
    # The true behaviour: ONNX Runtime also quantizes biases to int32 by default, and TensorRT's
    # DequantizeLinear takes INT8/FP8/INT4 only (the table) -- those bias nodes, and nothing else, are flagged.
    model = onnx.load(str(path))
    bias_dq = {n.name for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in
               {i.name for i in model.graph.initializer if i.data_type == TensorProto.INT32}}
    assert bias_dq == {"b1_DequantizeLinear", "b2_DequantizeLinear", "b3_DequantizeLinear"}
    assert {o["node"] for o in report["offenders"]} == bias_dq
    assert all("QuantizeBias=False" in o["reason"] for o in report["offenders"])
    # Quantized with float biases it is clean end to end.
    clean = check_onnx_for_tensorrt(_quantize(small_float_onnx, tmp_path / "sym_fb.onnx", True, QuantizeBias=False),
                                    table_csv)
    assert clean["ok"], format_report(clean)
    assert clean["qdq"]["all_int8"] and clean["qdq"]["quantized_dtypes"] == ["INT8"]


def test_asymmetric_uint8_qdq_is_flagged_with_node_names(small_float_onnx, table_csv, tmp_path):
    path = _quantize(small_float_onnx, tmp_path / "asym.onnx", symmetric=False)
    report = check_onnx_for_tensorrt(path, table_csv)
    assert not report["ok"] and not report["qdq"]["zero_points_all_zero"] and not report["qdq"]["all_int8"]
    zps = _zero_points(path)
    uint8 = {n for n, (t, _) in zps.items() if t == TensorProto.UINT8}
    nonzero = {n for n, (_, v) in zps.items() if np.any(v != 0)}
    assert uint8 and nonzero and nonzero <= uint8  # the activations; weights stay int8 symmetric
    flagged_uint8 = {o["node"] for o in report["offenders"] if "uint8" in o["reason"]}
    flagged_nonzero = {o["node"] for o in report["offenders"] if "nonzero" in o["reason"]}
    assert flagged_uint8 == uint8 and flagged_nonzero == nonzero
    weights = {n for n, (t, _) in zps.items() if t == TensorProto.INT8}
    assert weights and not weights & (flagged_uint8 | flagged_nonzero)
    text = format_report(report)
    assert "### Offenders" in text and all(f"`{n}`" in text for n in uint8)


def test_bad_scales_and_per_channel_activations_are_flagged(table_csv, tmp_path):
    inits = [numpy_helper.from_array(np.array(-0.1, np.float32), "neg_scale"),
             numpy_helper.from_array(np.array(0, np.int8), "zp"),
             numpy_helper.from_array(np.full(3, 0.1, np.float32), "ch_scale"),
             numpy_helper.from_array(np.zeros(3, np.int8), "ch_zp")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "neg_scale", "zp"], ["q"], name="q_negative"),
             helper.make_node("DequantizeLinear", ["q", "neg_scale", "zp"], ["dq"], name="dq_negative"),
             helper.make_node("QuantizeLinear", ["dq", "ch_scale", "ch_zp"], ["q2"], name="q_act_per_channel", axis=1),
             helper.make_node("DequantizeLinear", ["q2", "ch_scale", "ch_zp"], ["y"], name="dq_act_per_channel",
                              axis=1)]
    path = _save(tmp_path, nodes, [_f32("x", [1, 3, 4, 4])], [_f32("y", [1, 3, 4, 4])], inits, name="badq")
    report = check_onnx_for_tensorrt(path, table_csv)
    reasons = {(o["node"], o["reason"].split(":")[0]) for o in report["offenders"]}
    assert ("q_negative", "scale 'neg_scale' has 1 non-positive or non-finite value(s) (e.g. -0.10000000149011612)") \
        in reasons
    assert not report["qdq"]["scales_positive"]
    per_channel = {o["node"] for o in report["offenders"] if "per-channel scales only for weights" in o["reason"]}
    assert per_channel == {"q_act_per_channel", "dq_act_per_channel"}


# --------------------------------------------------------------------------------------------------
# Hand-built graphs: unsupported ops and violated restrictions
# --------------------------------------------------------------------------------------------------


def _case_unique(tmp_path):
    nodes = [helper.make_node("Unique", ["x"], ["y"], name="uniq", sorted=1)]
    return _save(tmp_path, nodes, [_f32("x", [8])], [_f32("y", [None])], name="unique"), \
        ("Unique", "uniq", "marked N in the table")


def _case_reduce_axes_input(tmp_path):  # opset 18: axes is an input, here a graph input (not build-time)
    nodes = [helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="mean", keepdims=1)]
    axes = helper.make_tensor_value_info("axes", TensorProto.INT64, [1])
    return _save(tmp_path, nodes, [_f32("x", [1, 3, 4, 4]), axes], [_f32("y", None)], name="reduce"), \
        ("ReduceMean", "mean", "`axes` input 'axes' is not an initializer or Constant (a graph input)")


def _case_unsqueeze_computed_axes(tmp_path):
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape", start=0, end=1),
             helper.make_node("Unsqueeze", ["x", "s"], ["y"], name="unsq")]
    return _save(tmp_path, nodes, [_f32("x", [1, 3])], [_f32("y", None)], name="unsq"), \
        ("Unsqueeze", "unsq", "computed by Shape node 'shape'")


def _case_maxpool_dilations(tmp_path):
    nodes = [helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2], dilations=[2, 2])]
    return _save(tmp_path, nodes, [_f32("x", [1, 3, 8, 8])], [_f32("y", None)], name="pool"), \
        ("MaxPool", "pool", "`dilations` = [2, 2], must be empty or all ones")


def _case_maxpool_1d(tmp_path):
    nodes = [helper.make_node("MaxPool", ["x"], ["y"], name="pool1d", kernel_shape=[2])]
    return _save(tmp_path, nodes, [_f32("x", [1, 3, 8])], [_f32("y", None)], name="pool1d"), \
        ("MaxPool", "pool1d", "1D spatial input; TensorRT takes only 2D or 3D")


def _case_maxpool_indices(tmp_path):
    nodes = [helper.make_node("MaxPool", ["x"], ["y", "idx"], name="pool_idx", kernel_shape=[2, 2])]
    idx = helper.make_tensor_value_info("idx", TensorProto.INT64, None)
    return _save(tmp_path, nodes, [_f32("x", [1, 3, 8, 8])], [_f32("y", None), idx], name="poolidx"), \
        ("MaxPool", "pool_idx", "output `Indices` ('idx') is unsupported")


def _case_resize_cubic(tmp_path):
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["y"], name="up", mode="cubic")]
    return _save(tmp_path, nodes, [_f32("x", [1, 3, 4, 4])], [_f32("y", None)], [scales], name="resize"), \
        ("Resize", "up", "`mode` = 'cubic'; TensorRT supports nearest, linear")


def _case_topk_unsorted(tmp_path):
    k = numpy_helper.from_array(np.array([5000], np.int64), "k")
    nodes = [helper.make_node("TopK", ["x", "k"], ["v", "i"], name="topk", sorted=0)]
    idx = helper.make_tensor_value_info("i", TensorProto.INT64, None)
    return _save(tmp_path, nodes, [_f32("x", [1, 8000])], [_f32("v", None), idx], [k], name="topk"), \
        ("TopK", "topk", "`sorted` = 0, TensorRT needs 1")


def _case_topk_large_k(tmp_path):
    k = numpy_helper.from_array(np.array([5000], np.int64), "k")
    nodes = [helper.make_node("TopK", ["x", "k"], ["v", "i"], name="topk_k")]
    idx = helper.make_tensor_value_info("i", TensorProto.INT64, None)
    return _save(tmp_path, nodes, [_f32("x", [1, 8000])], [_f32("v", None), idx], [k], name="topkk"), \
        ("TopK", "topk_k", "`K` = [5000], must be less than 3840")


def _case_layernorm_outputs(tmp_path):
    inits = [numpy_helper.from_array(np.ones(4, np.float32), "g"),
             numpy_helper.from_array(np.zeros(4, np.float32), "b")]
    nodes = [helper.make_node("LayerNormalization", ["x", "g", "b"], ["y", "mean"], name="ln")]
    return _save(tmp_path, nodes, [_f32("x", [2, 4])], [_f32("y", None), _f32("mean", None)], inits, name="ln"), \
        ("LayerNormalization", "ln", "only the first output is supported")


def _case_double_tensor(tmp_path):
    nodes = [helper.make_node("Cast", ["x"], ["d"], name="to_double", to=TensorProto.DOUBLE),
             helper.make_node("Relu", ["d"], ["y"], name="relu_double")]
    y = helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)
    return _save(tmp_path, nodes, [_f32("x", [4])], [y], name="double"), \
        ("Relu", "relu_double", "tensor 'd' is FP64; the table lists FP32, FP16, BF16, INT32, INT64 for Relu")


def _case_custom_domain(tmp_path):
    nodes = [helper.make_node("FastGelu", ["x"], ["y"], name="gelu_ms", domain="com.microsoft")]
    return _save(tmp_path, nodes, [_f32("x", [4])], [_f32("y", [4])], name="custom",
                 extra_opsets=[helper.make_opsetid("com.microsoft", 1)]), \
        ("FastGelu", "gelu_ms", "custom-domain op (com.microsoft)")


def _case_loop_dynamic_scan(tmp_path):
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"], name="keep"),
         helper.make_node("Add", ["v_in", "one"], ["v_out"], name="inc"),
         helper.make_node("Identity", ["v_in"], ["scan"], name="emit")],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []), _f32("v_in", [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), _f32("v_out", [1]), _f32("scan", [1])],
        [numpy_helper.from_array(np.ones(1, np.float32), "one")])
    nodes = [helper.make_node("Loop", ["m", "", "v0"], ["v_final", "scans"], name="loop", body=body)]
    m = helper.make_tensor_value_info("m", TensorProto.INT64, [])
    return _save(tmp_path, nodes, [m, _f32("v0", [1])], [_f32("v_final", [1]), _f32("scans", None)], name="loop"), \
        ("Loop", "loop", "1 scan output(s) while the trip count M is computed at run time")


CASES = [_case_unique, _case_reduce_axes_input, _case_unsqueeze_computed_axes, _case_maxpool_dilations,
         _case_maxpool_1d, _case_maxpool_indices, _case_resize_cubic, _case_topk_unsorted, _case_topk_large_k,
         _case_layernorm_outputs, _case_double_tensor, _case_custom_domain, _case_loop_dynamic_scan]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__[6:] for c in CASES])
def test_offender_named_with_op_node_and_reason(case, table_csv, tmp_path):
    path, (op, node, reason) = case(tmp_path)
    report = check_onnx_for_tensorrt(path, table_csv)
    assert not report["ok"]
    hits = [o for o in report["offenders"] if o["op"] == op and o["node"] == node and reason in o["reason"]]
    assert hits, format_report(report)
    assert f"**{op}** `{node}`" in format_report(report)


def test_opset_decides_whether_axes_is_an_input(table_csv, tmp_path):
    # Opset 13: ReduceMean's axes is an attribute, constant by construction; opset 18 with an initializer: fine too.
    old = _save(tmp_path, [helper.make_node("ReduceMean", ["x"], ["y"], name="m13", axes=[2, 3])],
                [_f32("x", [1, 3, 4, 4])], [_f32("y", None)], opset=13, name="r13")
    axes = numpy_helper.from_array(np.array([2, 3], np.int64), "axes")
    new = _save(tmp_path, [helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="m18")],
                [_f32("x", [1, 3, 4, 4])], [_f32("y", None)], [axes], opset=18, name="r18")
    for path in (old, new):
        report = check_onnx_for_tensorrt(path, table_csv)
        assert report["ok"], format_report(report)


def test_unverifiable_restriction_is_reported_not_passed(table_csv, tmp_path):
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"], name="keep"),
         helper.make_node("Add", ["v_in", "one"], ["v_out"], name="inc")],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []), _f32("v_in", [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), _f32("v_out", [1])],
        [numpy_helper.from_array(np.ones(1, np.float32), "one")])
    m = numpy_helper.from_array(np.array(3, np.int64), "m")
    path = _save(tmp_path, [helper.make_node("Loop", ["m", "", "v0"], ["v_final"], name="counter", body=body)],
                 [_f32("v0", [1])], [_f32("v_final", [1])], [m], name="loop_ok")
    report = check_onnx_for_tensorrt(path, table_csv)
    assert report["ok"] and not report["fully_checked"]
    assert report["op_counts"] == {"Add": 1, "Identity": 1, "Loop": 1}  # body nodes counted
    [entry] = report["unchecked"]
    assert entry["op"] == "Loop" and entry["nodes"] == ["counter"]
    assert entry["reason"] == f"{UNCHECKED}: The shape of Loop carried dependencies must be the same across all " \
                              "loop iterations."
    assert "### Not checked automatically" in format_report(report)


# --------------------------------------------------------------------------------------------------
# Engine building
# --------------------------------------------------------------------------------------------------


def test_build_engine_without_tensorrt_names_the_package(small_float_onnx, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # `import tensorrt` fails, as on a machine without it
    assert tensorrt_version() is None
    with pytest.raises(MissingDependencyError, match="tensorrt") as err:
        build_engine(small_float_onnx, tmp_path / "x.engine")
    assert err.value.package == "tensorrt" and "edge-sdk[tensorrt]" in str(err.value)
    assert cli_main(["build-engine", str(small_float_onnx), "--out", str(tmp_path / "x.engine"), "--shapes", "1,2,4"]) == 2
    assert "tensorrt" in capsys.readouterr().err
    assert not (tmp_path / "x.engine").exists()


def test_cli_checks_first_and_refuses_offenders(small_float_onnx, table_csv, tmp_path, capsys):
    bad = _quantize(small_float_onnx, tmp_path / "asym.onnx", symmetric=False)
    assert cli_main(["build-engine", str(bad), "--check", str(table_csv), "--int8"]) == 1
    out = capsys.readouterr()
    assert "### Offenders" in out.out and "not building" in out.err
    assert cli_main(["build-engine", str(bad), "--shapes", "4,2,1"]) == 2
    assert "--shapes takes min,opt,max" in capsys.readouterr().err


def _run_engine(path, x: np.ndarray) -> np.ndarray:
    import tensorrt as trt
    import torch

    engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(path.read_bytes())
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inp = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
    out = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
    xt = torch.from_numpy(np.ascontiguousarray(x)).cuda()
    context.set_input_shape(inp, tuple(xt.shape))
    y = torch.empty(tuple(context.get_tensor_shape(out)), dtype=torch.float32, device="cuda")
    context.set_tensor_address(inp, xt.data_ptr())
    context.set_tensor_address(out, y.data_ptr())
    stream = torch.cuda.current_stream()
    assert context.execute_async_v3(stream.cuda_stream)
    stream.synchronize()
    return y.cpu().numpy()


@pytest.fixture
def tensorrt_gpu():
    trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed here (it needs an NVIDIA GPU machine)")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT is installed but no CUDA GPU is visible")
    return trt


def test_b0_engine_matches_onnxruntime_fp16(tensorrt_gpu, b0_artifacts, tmp_path):
    import onnxruntime as ort

    cache = tmp_path / "timing.cache"
    report = build_engine(b0_artifacts["onnx"], tmp_path / "b0.engine", fp16=True, timing_cache=cache,
                          min_shape=1, opt_shape=2, max_shape=4)
    assert report["tensorrt"] == tensorrt_version() and report["engine_bytes"] > 1_000_000
    assert report["profile"]["input"] == {"min": [1, 3, 224, 224], "opt": [2, 3, 224, 224], "max": [4, 3, 224, 224]}
    assert cache.stat().st_size > 0 and (tmp_path / "b0.engine").stat().st_size == report["engine_bytes"]
    x = reference_inputs(224)
    session = ort.InferenceSession(str(b0_artifacts["onnx"]), providers=["CPUExecutionProvider"])
    want = session.run(None, {"input": x})[0]
    got = _run_engine(tmp_path / "b0.engine", x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-2, rtol=0)
    again = build_engine(b0_artifacts["onnx"], tmp_path / "b0b.engine", timing_cache=cache, min_shape=1,
                         opt_shape=2, max_shape=4)
    assert again["timing_cache_loaded"]


def test_symmetric_qdq_engine_builds_int8(tensorrt_gpu, small_float_onnx, tmp_path):
    path = _quantize(small_float_onnx, tmp_path / "sym_fb.onnx", True, QuantizeBias=False)
    report = build_engine(path, tmp_path / "int8.engine", int8=True, min_shape=1, opt_shape=2, max_shape=4)
    assert "INT8" in report["flags"] and report["explicit_quantization"]
    x = np.random.default_rng(2).standard_normal((3, 3, 16, 16)).astype(np.float32)
    assert np.isfinite(_run_engine(tmp_path / "int8.engine", x)).all()


def test_a_built_engine_gets_its_own_manifest(tmp_path):
    """edge_sdk.load(engine) needs a manifest describing the engine: made from the ONNX file's (engine bytes stand-in)."""
    from edge_sdk import manifest
    from edge_sdk.preprocess import CropSpec
    from edge_sdk.export.tensorrt import write_engine_manifest

    onnx_path, engine = tmp_path / "m.onnx", tmp_path / "m.engine"
    onnx_path.write_bytes(b"onnx stand-in")
    engine.write_bytes(b"serialized engine stand-in")
    report = {"engine": str(engine), "tensorrt": "10.9.0", "flags": ["FP16"], "seconds": 1.0}
    assert write_engine_manifest(onnx_path, engine, report) is None  # no ONNX manifest: nothing to derive from
    spec = CropSpec.for_model({"input_size": (3, 224, 224), "mean": (0.5,) * 3, "std": (0.5,) * 3})
    m = manifest.build(onnx_path, model="repvit_m0_9_student", target="tensorrt", precision="int8", crop=spec,
                       input_shape=[1, 3, 224, 224], checkpoint="r.pth", threshold=0.7)
    manifest.write(m, tmp_path / "manifest.json")
    written = write_engine_manifest(onnx_path, engine, report)
    assert written == tmp_path / "m.engine.manifest.json"
    e = manifest.load(engine)  # schema-valid, names the engine, sha256 of the engine's bytes
    assert e["artifact"]["file"] == "m.engine" and e["target"] == "tensorrt" and e["precision"] == "int8"
    assert e["versions"]["tensorrt"] == "10.9.0" and e["export"]["engine"]["flags"] == ["FP16"]
    assert e["threshold"] == 0.7 and e["model"]["checkpoint"] == "r.pth" and e["crop"] == m["crop"]
    assert manifest.load(onnx_path)["artifact"]["file"] == "m.onnx"  # the ONNX file keeps its own
