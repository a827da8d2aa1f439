"""The registry's contract: names, wildcards, metadata, overrides and errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import zoo
from zoo import registry
from zoo.data.embedded import EMBEDDED


def test_list_models_is_sorted_and_filters_with_wildcards():
    names = zoo.list_models()
    assert names == sorted(names)
    assert zoo.list_models("fsrcnn_x*") == ["fsrcnn_x2", "fsrcnn_x3", "fsrcnn_x4"]
    assert zoo.list_models("fsrcnn*", exclude="*_s_*") == [
        "fsrcnn_prelu_x3",
        "fsrcnn_tiny",
        "fsrcnn_x2",
        "fsrcnn_x3",
        "fsrcnn_x4",
    ]
    assert set(zoo.list_models(["*_tiny", "fsrcnn_x3"])) == {
        *zoo.list_models("*_tiny"),
        "fsrcnn_x3",
    }
    assert zoo.list_models("no_such_*") == []


def test_each_family_registers_its_tiny_variant_last():
    last_by_family = {}
    for name, entry in registry._REGISTRY.items():  # insertion order is file order
        last_by_family[entry.info.family] = name
    for family, name in last_by_family.items():
        assert name == f"{family}_tiny", f"{family} ends with {name}"


@pytest.mark.parametrize("name", zoo.list_models())
def test_info_is_complete(name):
    info = zoo.info(name)
    assert info.name == name
    assert info.task in zoo.TASKS
    assert info.paper and info.description
    assert info.dataset in EMBEDDED, "default training data must work offline"
    assert info.num_params > 0
    assert info.recipe.epochs > 0 and info.recipe.batch_size > 0 and info.recipe.learning_rate > 0
    assert info.input_range == info.inputs[0].value_range
    assert info.output_shape == info.output.shape
    free_spatial = any(None in spec.shape for spec in info.inputs)
    assert (info.export_size is not None) == free_spatial, "fully convolutional models name one"


def test_unknown_name_lists_the_closest():
    with pytest.raises(zoo.UnknownModelError, match="closest: fsrcnn_x3"):
        zoo.info("fsrcnn_x33")
    with pytest.raises(zoo.ZooError):
        zoo.get("nonsense")


def _registration(**changes) -> dict:
    """The keywords of a minimal registration, with ``changes``."""
    spec = zoo.TensorSpec("x", (4,))
    recipe = zoo.Recipe(epochs=1, batch_size=1, learning_rate=1e-3, loss="mse")
    keywords = dict(
        family="test",
        task="reconstruct",
        inputs=[spec],
        output=spec,
        num_params=1,
        paper="-",
        dataset="digits",
        recipe=recipe,
    )
    return {**keywords, **changes}


def test_duplicate_registration_is_an_error():
    with pytest.raises(zoo.ZooError, match="already registered"):

        @zoo.register(**_registration())
        def fsrcnn_x3():
            """A clash."""

    assert zoo.info("fsrcnn_x3").family == "fsrcnn"


def test_overrides_reach_the_builder():
    model = zoo.get("fsrcnn_tiny", channels=3, scale=3)
    assert model.input_shape == (None, None, None, 3)
    assert model.output_shape == (None, None, None, 3)
    assert model(np.zeros((1, 8, 8, 3))).shape == (1, 24, 24, 3)


def test_variants_state_their_arguments_once_and_overrides_win():
    """A variant is its family builder with the arguments in its registration: the model
    carries the variant's name, the contract follows the arguments, an override replaces one."""
    from zoo.models import fsrcnn

    arguments = {"scale": 3, "d": 32, "s": 5, "m": 1, "activation": "relu"}
    assert fsrcnn.fsrcnn_s_x3.arguments == arguments
    assert fsrcnn.fsrcnn_s_x3.__doc__.startswith("FSRCNN-s(32, 5, 1) x3")
    model = zoo.get("fsrcnn_s_x3")
    assert model.name == "fsrcnn_s_x3" and model.count_params() == 4_012
    assert zoo.info("fsrcnn_s_x3").recipe.options["scale"] == 3
    assert zoo.get("fsrcnn_s_x3", scale=2)(np.zeros((1, 4, 4, 1))).shape == (1, 8, 8, 1)


def test_arguments_a_family_builder_does_not_take_fail_at_registration():
    from zoo.models.fsrcnn import fsrcnn

    with pytest.raises(zoo.ZooError, match=r"no_such_variant takes no option sclae"):

        @zoo.register(**_registration(family_builder=fsrcnn, arguments={"sclae": 3}))
        def no_such_variant(**overrides):
            """A typo in an argument."""

    assert zoo.list_models("no_such_variant") == []


def test_bad_options_are_zoo_errors():
    with pytest.raises(zoo.ZooError, match="no_such_option"):
        zoo.get("fsrcnn_tiny", no_such_option=1)
    with pytest.raises(zoo.ZooError, match="upsample"):
        zoo.get("fsrcnn_tiny", upsample="bilinear")
    with pytest.raises(zoo.ZooError, match="weights"):
        zoo.get("fsrcnn_tiny", weights="default")
    with pytest.raises(zoo.ZooError, match="no discriminator"):
        zoo.get_discriminator("fsrcnn_tiny")


@pytest.mark.parametrize("name", zoo.list_models("*_tiny"))
def test_unknown_overrides_are_refused_before_building_naming_the_valid_ones(name):
    """Every variant checks its overrides against its family builder's keywords."""
    with pytest.raises(zoo.ZooError, match=r"takes no option no_such_option \(options: .*\)"):
        zoo.get(name, no_such_option=1)
    if zoo.info(name).has_discriminator:
        with pytest.raises(zoo.ZooError, match="no_such_option"):
            zoo.get_discriminator(name, no_such_option=1)


def test_importing_zoo_and_the_cli_leaves_tensorflow_unloaded():
    code = "import sys, zoo, zoo.cli; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


def test_catalog_matches_the_registry_and_spares_tensorflow(tmp_path, monkeypatch):
    from zoo.catalog import info_from_dict

    def normal(info):
        return json.loads(json.dumps(info.to_dict()))

    for name in zoo.list_models():
        info = zoo.info(name)
        assert normal(info_from_dict(normal(info))) == normal(info)

    env = {**os.environ, "DECONV_ZOO_CACHE": str(tmp_path)}
    code = (
        "import sys; from zoo.catalog import load_catalog; names = sorted(load_catalog()); "
        "print(len(names), 'tensorflow' in sys.modules)"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        for _ in range(2)
    ]
    assert [run.stdout.split() for run in runs] == [
        [str(len(zoo.list_models())), "True"],  # first run imports the families once
        [str(len(zoo.list_models())), "False"],  # then the cached catalog answers
    ]
    assert len(list(tmp_path.glob("catalog-*.json"))) == 1
    # with the catalog cached, `zoo list` (shipped weights' figures included) stays light
    listing = (
        "import sys; from click.testing import CliRunner; from zoo.cli import main; "
        "result = CliRunner().invoke(main, ['list']); "
        "print(result.exit_code, 'psnr' in result.output, 'tensorflow' in sys.modules)"
    )
    listed = subprocess.run(
        [sys.executable, "-c", listing], env=env, capture_output=True, text=True
    )
    assert listed.stdout.split() == ["0", "True", "False"], listed.stderr[-2000:]
