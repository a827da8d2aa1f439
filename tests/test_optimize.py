"""The tfmot path: the tf_keras twin, BN folding, QAT / pruning / clustering, `zoo optimize`.

Tiny models, a few fine-tuning steps, little data: the point is that every technique runs
end to end and leaves what it promises in the files (int8 ops, sparsity, shared values).
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from click.testing import CliRunner

import zoo
from convert import flatbuffer
from tests.harness import sample_inputs
from zoo.cli import main
from zoo.errors import ZooError

FAST = {"batch_size": 4, "data_limit": 8, "representative_count": 4}


def _randomize_statistics(model: keras.Model, seed: int = 0) -> None:
    """Non-trivial BN statistics and biases (the initial ones would hide folding mistakes)."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            for weight in (layer.moving_mean, layer.gamma, layer.beta):
                weight.assign(rng.normal(0.0, 0.5, weight.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, layer.moving_variance.shape))
        if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense) and layer.use_bias:
            layer.bias.assign(rng.normal(0.0, 0.1, layer.bias.shape))


def _feed(arrays):
    return arrays[0] if len(arrays) == 1 else list(arrays)


def test_import_and_get_never_load_tfmot():
    code = (
        "import os, sys, zoo, convert, convert.optimize, zoo.cli\n"
        "zoo.get('fsrcnn_tiny')\n"
        "assert 'tensorflow_model_optimization' not in sys.modules\n"
        "assert 'TF_USE_LEGACY_KERAS' not in os.environ\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_loading_tfmot_leaves_the_environment_alone():
    before = os.environ.get("TF_USE_LEGACY_KERAS")
    from convert import techniques  # noqa: F401

    assert os.environ.get("TF_USE_LEGACY_KERAS") == before


@pytest.mark.parametrize("name", zoo.list_models("*_tiny"))
def test_twin_computes_the_same_function(name):
    from convert.twin import twin

    model = zoo.get(name)
    _randomize_statistics(model)
    feed = _feed(sample_inputs(zoo.info(name), batch=2))
    expected = [np.asarray(o) for o in keras.tree.flatten(model(feed, training=False))]
    for fold in (False, True):
        for flatten in (False, True):
            legacy = twin(model, fold_batch_norm=fold, flatten=flatten)
            actual = keras.tree.flatten(legacy(feed, training=False))
            for e, a in zip(expected, actual, strict=True):
                np.testing.assert_allclose(
                    np.asarray(a), e, atol=1e-5, err_msg=f"{fold=} {flatten=}"
                )


@pytest.mark.parametrize("name", ["dcgan_tiny", "unet_tiny", "pix2pix_tiny"])
@pytest.mark.parametrize("upsample", ["transpose", "subpixel"])
def test_batch_norm_folding_is_exact_and_maps_back(name, upsample):
    import tf_keras

    from convert.twin import build_twin

    model = zoo.get(name, upsample=upsample)
    _randomize_statistics(model, seed=1)
    built = build_twin(model, flatten=True)
    transposes = [f for f in built.folds if isinstance(f.producer, keras.layers.Conv2DTranspose)]
    assert built.folds
    if upsample == "transpose" and name != "unet_tiny":  # U-Net's BNs follow Conv2D only
        assert transposes
    assert not any(
        isinstance(layer, tf_keras.layers.BatchNormalization) for layer in built.model.layers
    )
    feed = _feed(sample_inputs(zoo.info(name), batch=2, seed=3))
    expected = np.asarray(model(feed, training=False))
    np.testing.assert_allclose(np.asarray(built.model(feed)), expected, atol=1e-5)

    # Writing the folded weights back into a fresh Keras 3 model reproduces the function.
    weights = {layer.name: layer.get_weights() for layer in built.model.layers if layer.weights}
    fresh = zoo.get(name, upsample=upsample)
    built.write_back(weights, fresh)
    np.testing.assert_allclose(np.asarray(fresh(feed, training=False)), expected, atol=1e-5)


def test_a_layer_without_a_twin_is_a_one_line_error():
    from convert.twin import twin

    @keras.saving.register_keras_serializable(package="test_optimize")
    class Doubling(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    inputs = keras.Input((4,))
    model = keras.Model(inputs, Doubling(name="doubling")(inputs), name="custom")
    with pytest.raises(ZooError, match="no tf_keras twin for layer 'doubling'"):
        twin(model)


def _ops(path):
    parsed = flatbuffer.read(path)
    return parsed, [op.name for op in parsed.operators]


def test_qat_writes_an_int8_file_and_reports_before_and_after(tmp_path):
    from convert.optimize import optimize

    result = optimize("fsrcnn_tiny", qat=True, steps=3, out=tmp_path, eval_limit=1, **FAST)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report == json.loads(json.dumps(result.report, default=str))
    assert report["scheme"] == "qat" and report["metric"] == "psnr"
    for key in ("float", "ptq_int8", "optimized", "optimized_tflite"):
        assert np.isfinite(report["metrics"][key]["psnr"]), key
    assert report["twin"]["max_difference"] < 1e-5
    assert report["agreement"]["mean_abs_error"] < 0.05
    ptq = report["files"]["int8_ptq"]  # the baseline is rounded as zoo convert rounds
    assert ptq["rounding"] == min(ptq["rounding_errors"], key=ptq["rounding_errors"].get)

    parsed, ops = _ops(result.files["tflite"])
    assert "TRANSPOSE_CONV" in ops and "PRELU" in ops
    assert parsed.op_versions["TRANSPOSE_CONV"] <= 3
    for op in parsed.operators:  # every op computes in int8 (weights int8, biases int32)
        for tensor in (*parsed.operator_inputs(op), *parsed.operator_outputs(op)):
            assert tensor.dtype in ("int8", "int32"), (op.name, tensor.name, tensor.dtype)
    assert [t.shape[0] for t in parsed.input_tensors] == [1]
    assert not any(t.dynamic for graph in parsed.tensors for t in graph)
    assert report["files"]["tflite"]["bytes"] == result.files["tflite"].stat().st_size

    # The optimized weights load into the zoo's own model (zoo eval takes the folder).
    model = zoo.get("fsrcnn_tiny", weights=str(tmp_path))
    assert model.name == "fsrcnn_tiny"


def test_qat_of_a_vae_fine_tunes_its_elbo_at_full_kl_weight(tmp_path):
    from convert.optimize import optimize

    result = optimize("vae_tiny", qat=True, steps=3, out=tmp_path, eval_limit=2, **FAST)
    (phase,) = result.report["phases"]
    assert phase["kl"] > 0
    assert phase["loss"] == pytest.approx(phase["reconstruction"] + phase["kl"], rel=1e-4)
    metrics = result.report["metrics"]
    assert "elbo" in metrics["float"] and "elbo" not in metrics["ptq_int8"]  # a file: no ELBO


def test_pruning_reaches_the_requested_sparsity(tmp_path):
    from convert.optimize import optimize

    result = optimize("unet_tiny", prune=0.6, steps=4, out=tmp_path, eval_limit=2, **FAST)
    model = zoo.get("unet_tiny", weights=str(result.files["weights"]))
    pruned = result.report["phases"][0]["layers"]
    assert len(pruned) >= 8
    for name in pruned:
        kernel = np.asarray(model.get_layer(name).kernel)
        assert abs(np.mean(kernel == 0) - 0.6) <= 1.0 / kernel.size + 1e-6, name
    assert abs(result.report["weights"]["sparsity"] - 0.6) < 0.01
    assert result.files["tflite"].name == "unet_tiny_prune_float32.tflite"
    assert result.report["keras_weights_max_difference"] < 1e-4
    metrics = result.report["metrics"]
    assert {"float", "optimized", "optimized_tflite"} <= set(metrics)
    assert "miou" in metrics["optimized_tflite"]


def test_clustering_leaves_at_most_k_values_per_kernel(tmp_path):
    from convert.optimize import optimize

    result = optimize("unet_tiny", cluster=4, steps=3, out=tmp_path, eval_limit=2, **FAST)
    model = zoo.get("unet_tiny", weights=str(result.files["weights"]))
    clustered = result.report["phases"][0]["layers"]
    assert clustered
    for name in clustered:
        assert np.unique(np.asarray(model.get_layer(name).kernel)).size <= 4, name
    assert result.report["weights"]["max_unique_per_kernel"] <= 4


def test_pcqat_on_a_gan_run_keeps_zeros_and_clusters(tmp_path):
    from convert.optimize import optimize
    from zoo.train import train

    run = train(
        "dcgan_tiny", epochs=1, steps_per_epoch=2, batch_size=8, out=tmp_path / "run", quiet=True
    )
    with pytest.raises(ZooError, match="holds a training run"):
        optimize("dcgan_tiny", weights=str(run), qat=True, out=run)
    out = tmp_path / "pcqat"
    result = optimize(
        "dcgan_tiny",
        weights=str(run),
        qat=True,
        prune=0.5,
        cluster=8,
        steps=3,
        out=out,
        eval_limit=8,
        **FAST,
    )
    report = result.report
    assert report["scheme"] == "pcqat"
    assert report["fine_tune"]["discriminator"].startswith(str(run / "checkpoints"))
    assert report["twin"]["folded_batch_norms"] == ["project_bn", "up1_bn"]
    assert report["fine_tune"]["fixed_biases"] == ["project"]  # Dense -> Reshape -> BN
    for name, stats in report["weights"]["kernels"].items():
        assert stats["sparsity"] >= 0.49, name
        assert stats["unique"] <= 8 + 1, name  # the clusters, and zero
    assert "frechet_distance" in report["metrics"]["optimized_tflite"]
    _, ops = _ops(result.files["tflite"])
    assert ops.count("TRANSPOSE_CONV") == 2 and "RELU" in ops
    assert report["ops"]["float_ops"] == []


def test_cli_runs_end_to_end(tmp_path):
    out = tmp_path / "cli"
    args = ["optimize", "fsrcnn_tiny", "--cluster", "4", "--steps", "2", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--eval-limit", "1", "--batch-size", "4", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "fsrcnn_tiny_cluster_float32.tflite" in result.output
    assert "psnr" in result.output
    assert {p.name for p in out.iterdir()} >= {
        "fsrcnn_tiny_cluster_float32.tflite",
        "fsrcnn_tiny_cluster_float32.json",
        "model.weights.h5",
        "config.json",
        "report.json",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch", "--qat"], "unknown model 'nosuch'"),
        (["fsrcnn_tiny"], "choose a technique"),
        (["fsrcnn_tiny", "--prune", "1.5"], "between 0 and 1"),
        (["fsrcnn_tiny", "--cluster", "1"], "2 to 256 clusters"),
        (["fsrcnn_tiny", "--qat", "--steps", "0"], "--steps must be at least 1"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, args, message):
    result = CliRunner().invoke(main, ["optimize", *args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output


def test_out_in_a_missing_folder_is_an_error(tmp_path):
    result = CliRunner().invoke(
        main, ["optimize", "fsrcnn_tiny", "--qat", "--out", str(tmp_path / "no" / "out")]
    )
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: --out: folder {tmp_path / 'no'} does not exist"


def test_an_unsupported_tfmot_release_is_refused_in_one_line(monkeypatch):
    import importlib

    import tensorflow_model_optimization

    from convert import tfmot_adapter

    monkeypatch.setattr(tensorflow_model_optimization, "__version__", "0.9.1")
    with pytest.raises(ZooError, match=r"^tensorflow-model-optimization 0\.9\.1 is not supported"):
        importlib.reload(tfmot_adapter)
    monkeypatch.undo()
    assert importlib.reload(tfmot_adapter).tfmot is tensorflow_model_optimization
