"""The model registry: variant builders keyed on their function name, with metadata.

A family file decorates one small function per variant with :func:`register`, stating the
variant's arguments once; the registered builder calls the family builder with them::

    @register(family="fsrcnn", family_builder=fsrcnn, arguments={"scale": 3}, ...)
    def fsrcnn_x3(**overrides) -> keras.Model:
        '''FSRCNN(56, 12, 4) x3.'''  # the function lends its name and docstring

The metadata (:class:`ModelInfo`) is declared next to the builder, so listing the zoo
never builds a model; a test builds every one and checks the declaration against it.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from zoo.errors import UnknownModelError, ZooError

if TYPE_CHECKING:  # keep `zoo --help` free of TensorFlow
    import keras

UPSAMPLE_MODES = ("transpose", "resize_conv", "subpixel")


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output, without the batch axis.

    ``shape`` uses ``None`` for free spatial sizes (fully convolutional models).
    ``value_range`` is the range the values live in; ``bounded`` says whether the
    network itself guarantees it (tanh, sigmoid, softmax) or only aims for it (a
    linear super-resolution output). ``levels``: an input whose values are an image's
    integer levels (256 for 8 bits) spread evenly over ``value_range``; an int8 file then
    stores it on exactly those levels (:func:`convert.ranges.pin_input_levels`).
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"
    value_range: tuple[float, float] = (0.0, 1.0)
    bounded: bool = True
    description: str = ""
    levels: int | None = None


@dataclass(frozen=True)
class Recipe:
    """Training defaults used by `zoo train` (a later command may override any)."""

    epochs: int
    batch_size: int
    learning_rate: float
    loss: str
    optimizer: str = "adam"
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelInfo:
    """Everything known about a registered model without building it."""

    name: str
    family: str
    task: str
    inputs: tuple[TensorSpec, ...]
    output: TensorSpec
    num_params: int
    paper: str
    dataset: str
    recipe: Recipe
    baseline: bool = False
    export_size: tuple[int, int] | None = None
    description: str = ""
    has_discriminator: bool = False
    # Its outputs need float32 arithmetic on a GPU: in float16 its max-unpooling switches
    # (DeconvNet) or its deep activations (U-Net) leave Keras by more than 2% of the range.
    gpu_float32: bool = False

    @property
    def input_range(self) -> tuple[float, float]:
        """Value range of the first (image or latent) input."""
        return self.inputs[0].value_range

    @property
    def output_shape(self) -> tuple[int | None, ...]:
        return self.output.shape

    @property
    def output_range(self) -> tuple[float, float]:
        return self.output.value_range

    @property
    def generates(self) -> bool:
        """Whether the model draws its image from a latent vector (its first input is no image)."""
        return len(self.inputs[0].shape) == 1

    @property
    def tiny(self) -> bool:
        return self.name.endswith("_tiny")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (tuples become lists)."""
        from dataclasses import asdict

        data = asdict(self)
        data["recipe"]["options"] = dict(self.recipe.options)
        data.update(
            input_range=self.input_range,
            output_shape=self.output_shape,
            output_range=self.output_range,
        )
        return data


@dataclass(frozen=True)
class _Entry:
    builder: Callable[..., keras.Model]
    info: ModelInfo
    discriminator: Callable[..., keras.Model] | None
    family_builder: Callable[..., keras.Model] | None  # whose keywords overrides may set
    objective: type | None  # a training objective of the family's own, else the task's


_REGISTRY: dict[str, _Entry] = {}


def register(
    *,
    family: str,
    task: str,
    inputs: Iterable[TensorSpec],
    output: TensorSpec,
    num_params: int,
    paper: str,
    dataset: str,
    recipe: Recipe,
    baseline: bool = False,
    export_size: tuple[int, int] | None = None,
    discriminator: Callable[..., keras.Model] | None = None,
    gpu_float32: bool = False,
    family_builder: Callable[..., keras.Model] | None = None,
    objective: type | None = None,
    arguments: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., keras.Model]], Callable[..., keras.Model]]:
    """Decorator that registers a variant builder under its function name.

    ``discriminator`` builds the adversarial partner of a generator (same keyword
    overrides as the generator); ``gpu_float32`` marks a model whose numbers need a GPU
    that computes in float32; ``family_builder`` is the builder the variant calls, whose
    keyword arguments (``name`` aside) the variant's ``**overrides`` may set;
    ``objective`` trains the variant instead of its task's objective (:mod:`zoo.tasks`).
    With ``arguments``, the variant is ``family_builder(name=<function name>, **arguments,
    **overrides)`` (:func:`configured`), its ``discriminator`` the family's discriminator
    builder configured alike (named ``<name>_discriminator``), and the decorated function
    only lends its name and docstring. Registering a name twice raises :class:`ZooError`.
    """

    def decorator(builder: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
        name = builder.__name__
        if name in _REGISTRY:
            raise ZooError(f"model {name!r} is already registered")
        doc = (builder.__doc__ or "").strip().split("\n")[0]
        if arguments is not None:
            if family_builder is None:
                raise ZooError(f"{name}: arguments need the family_builder they configure")
            builder = functools.wraps(builder)(configured(family_builder, arguments, name))
            partner = discriminator and configured(
                discriminator, arguments, f"{name}_discriminator"
            )
        else:
            partner = discriminator
        info = ModelInfo(
            name=name,
            family=family,
            task=task,
            inputs=tuple(inputs),
            output=output,
            num_params=num_params,
            paper=paper,
            dataset=dataset,
            recipe=recipe,
            baseline=baseline,
            export_size=export_size,
            description=doc,
            has_discriminator=partner is not None,
            gpu_float32=gpu_float32,
        )
        _REGISTRY[name] = _Entry(builder, info, partner, family_builder, objective)
        return builder

    return decorator


def _as_patterns(patterns: str | Iterable[str] | None) -> list[str]:
    if patterns is None:
        return []
    if isinstance(patterns, str):
        return [patterns]
    return list(patterns)


def list_models(
    include: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
) -> list[str]:
    """Sorted registered names matching any ``include`` and no ``exclude`` wildcard.

    Only the families imported so far have registered: ``zoo.models`` imports them all.
    """
    return filter_names(_REGISTRY, include, exclude)


def filter_names(
    names: Iterable[str],
    include: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
) -> list[str]:
    """Sorted ``names`` matching any ``include`` and no ``exclude`` wildcard."""
    names = sorted(names)
    if include_patterns := _as_patterns(include):
        names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in include_patterns)]
    if exclude_patterns := _as_patterns(exclude):
        names = [n for n in names if not any(fnmatch.fnmatchcase(n, p) for p in exclude_patterns)]
    return names


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=5, cutoff=0.5)
        hint = f"; closest: {', '.join(close)}" if close else "; see `zoo list`"
        raise UnknownModelError(f"unknown model {name!r}{hint}") from None


def info(name: str) -> ModelInfo:
    """Metadata of a registered model, without building it."""
    return _entry(name).info


def objective_of(name: str) -> type | None:
    """The training objective registered with ``name``'s family, or None (its task's)."""
    return _entry(name).objective


def create(name: str, **overrides: Any) -> keras.Model:
    """Build registered model ``name`` as a functional Keras model, with fresh weights.

    ``overrides`` reach the family builder (for example ``channels=3`` or
    ``upsample="resize_conv"``); an override the family does not take is a ZooError.
    """
    entry = _entry(name)
    return _call_builder(entry.builder, name, overrides, entry.family_builder)


def get_discriminator(name: str, **overrides: Any) -> keras.Model:
    """Build the discriminator that trains beside generator ``name``."""
    entry = _entry(name)
    if entry.discriminator is None:
        raise ZooError(f"model {name!r} has no discriminator (task: {entry.info.task})")
    return _call_builder(entry.discriminator, f"{name}_discriminator", overrides)


def configured(
    build: Callable[..., keras.Model], arguments: Mapping[str, Any], name: str
) -> Callable[..., keras.Model]:
    """``build`` with ``name`` and the defaults ``arguments``, then the caller's overrides.

    ``arguments`` must be keywords of ``build`` (checked now, a ZooError otherwise); the
    result's signature is ``build``'s, the keywords an override may set.
    """
    import inspect

    signature = inspect.signature(build)
    _check_keywords(signature, arguments, name)
    defaults = dict(arguments)

    def builder(**overrides: Any) -> keras.Model:
        return build(name=name, **{**defaults, **overrides})

    builder.__signature__ = signature
    builder.arguments = MappingProxyType(defaults)
    return builder


def _check_keywords(signature, keywords: Iterable[str], name: str) -> None:
    """A ZooError naming the valid options when a keyword is not a parameter of ``signature``."""
    parameters = signature.parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    valid = sorted(set(parameters) - {"name"})
    unknown = sorted(set(keywords) - set(valid))
    if unknown:
        raise ZooError(f"{name} takes no option {', '.join(unknown)} (options: {', '.join(valid)})")


def _call_builder(
    builder: Callable[..., keras.Model],
    name: str,
    overrides: dict,
    family_builder: Callable[..., keras.Model] | None = None,
) -> keras.Model:
    """``builder(**overrides)`` once every override is a keyword that ``family_builder``
    (default: the builder itself) takes; an unknown one is a ZooError listing the valid ones."""
    import inspect

    _check_keywords(inspect.signature(family_builder or builder), overrides, name)
    return builder(**overrides)
