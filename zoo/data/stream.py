"""Training examples as a tf.data pipeline whose every batch is a function of the seed alone.

Every source, arrays in memory or a folder of any size, is :class:`Examples`: ``count``
examples per epoch, each read by its index. :func:`batches` is the pipeline ``zoo train``
reads from it:

- element ``e`` of a run (0, 1, 2, ...) is example ``index_shuffle(e % count)`` under the seed
  of epoch ``e // count``: a fresh permutation every epoch, computed per element and never
  held in memory (``tf.random.experimental.index_shuffle``);
- each element's random choices (its crop, the denoiser's noise, the blur kernel) come from
  generators seeded with (seed, e), so a batch is the same whatever the parallelism, and a
  run resumed at step s starts at element s * global batch: the checkpoint holds the step,
  and the pipeline needs no state of its own;
- pipeline i of n (one per worker under tf.distribute) reads only its slice of each global
  batch, so each worker decodes its own share of the files and together they see exactly the
  global batches of a one-device run.

A streamed folder decodes files in parallel (``num_parallel_calls=AUTOTUNE``) and holds only
the batches in flight; a file that cannot be read (or vanished since it was listed) is
skipped for the next one, with a warning naming it once. A source without random access (a
TFDS set in TFRecord files: :meth:`Examples.from_records`) goes through a seeded shuffle
buffer of its raw records instead, reshuffled every epoch; a resumed run skips the raw
records of the steps already trained on, and the rest holds as above.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo.errors import ZooError

Arrays = dict[str, np.ndarray]
Reader = Callable[[int, np.random.Generator], Arrays]
Degrade = Callable[[dict, Any], dict]


@dataclass(frozen=True, eq=False)
class Examples:
    """``count`` training examples: in ``arrays``, read one by one with ``read``, or made
    from the raw ``records`` of a dataset with ``read_record``.

    ``read(index, rng)`` and ``read_record(record, rng)`` return one example (a dict of
    arrays without a batch axis) and draw its random choices from ``rng`` only. ``spec``
    maps each key to (shape, dtype); ``skipped`` collects unreadable files' names.
    """

    count: int
    spec: dict[str, tuple[tuple[int, ...], np.dtype]]
    arrays: Arrays | None = None
    read: Reader | None = None
    name: str = ""
    skipped: set[str] = field(default_factory=set)
    records: Callable[[], Any] | None = None  # raw records in a fixed order (tf.data)
    read_record: Callable[[dict, np.random.Generator], Arrays] | None = None

    @classmethod
    def in_memory(cls, arrays: Mapping[str, np.ndarray], name: str = "") -> Examples:
        arrays = {key: np.asarray(value) for key, value in arrays.items()}
        counts = {len(value) for value in arrays.values()}
        if len(counts) != 1 or not min(counts):
            raise ZooError(f"training data {name}: no examples, or keys of different lengths")
        spec = {key: (value.shape[1:], value.dtype) for key, value in arrays.items()}
        return cls(count=counts.pop(), spec=spec, arrays=arrays, name=name)

    @classmethod
    def streamed(
        cls, count: int, read: Reader, name: str = "", skipped: set[str] | None = None
    ) -> Examples:
        """Examples read by ``read``; the first is read now, for the spec (and to fail early).

        ``skipped`` is the set the reader adds unreadable files to.
        """
        if count < 1:
            raise ZooError(f"training data {name}: no examples")
        first = read(0, np.random.default_rng(0))
        spec = {key: (np.shape(value), np.asarray(value).dtype) for key, value in first.items()}
        return cls(
            count=count,
            spec=spec,
            read=read,
            name=name,
            skipped=set() if skipped is None else skipped,
        )

    @classmethod
    def from_records(
        cls,
        count: int,
        records: Callable[[], Any],
        read_record: Callable[[dict, np.random.Generator], Arrays],
        name: str = "",
    ) -> Examples:
        """Examples made from the records of a ``tf.data.Dataset`` without random access
        (``records()`` makes it, in a fixed order); the first is read now, for the spec."""
        if count < 1:
            raise ZooError(f"training data {name}: no examples")
        first = next(iter(records().take(1).as_numpy_iterator()))
        example = read_record(first, np.random.default_rng(0))
        spec = {key: (np.shape(value), np.asarray(value).dtype) for key, value in example.items()}
        return cls(count=count, spec=spec, name=name, records=records, read_record=read_record)

    def __len__(self) -> int:
        return self.count

    @property
    def nbytes(self) -> int:
        """What all ``count`` examples take in memory."""
        each = sum(
            int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in self.spec.values()
        )
        return self.count * each


def batches(
    examples: Examples,
    global_batch: int,
    seed: int,
    *,
    start_step: int = 0,
    pipeline: int = 0,
    pipelines: int = 1,
    replica_batch: int | None = None,
    degrade: Degrade | None = None,
):
    """The tf.data pipeline of batches from global step ``start_step`` on (see the module).

    Pipeline ``pipeline`` of ``pipelines`` yields its slice of each global batch, split into
    batches of ``replica_batch`` (default: the whole slice). ``degrade(example, seed)`` makes
    each example's training input in TensorFlow (noise, blur) with stateless random ops
    seeded by the shape-(2,) ``seed`` tensor.
    """
    import tensorflow as tf

    local = global_batch // pipelines
    replica_batch = replica_batch or local
    if global_batch % pipelines or local % replica_batch:
        raise ZooError(
            f"batch size {global_batch} does not split into {pipelines} input pipeline(s) "
            f"of whole batches of {replica_batch}"
        )
    count, first = examples.count, pipeline * local

    def degraded(values, index):
        if degrade is None:
            return values
        return degrade(values, tf.stack([tf.constant(seed, tf.int64), index]))

    if examples.records is not None:
        fetch_record = _record_fetcher(examples, seed)
        elements = _shuffled_records(examples, global_batch, seed, start_step, first, local)
        elements = elements.map(
            lambda index, record: degraded(fetch_record(record, index), index),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    else:
        fetch = _fetcher(examples, seed)

        def element(position):
            index = position // local * global_batch + first + position % local
            epoch_seed = tf.stack([tf.constant(seed, tf.int64), index // count])
            example = tf.random.experimental.index_shuffle(index % count, epoch_seed, count - 1)
            return degraded(fetch(example, index), index)

        elements = tf.data.Dataset.counter(start_step * local).map(
            element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
    dataset = elements.batch(replica_batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)


def first_batch(examples: Examples, size: int, seed: int, degrade: Degrade | None = None) -> Arrays:
    """``size`` examples as the pipeline makes them (degraded), as numpy arrays."""
    batch = next(iter(batches(examples, size, seed, degrade=degrade)))
    return {key: value.numpy() for key, value in batch.items()}


def _fetcher(examples: Examples, seed: int):
    """example index, element index -> the example's tensors."""
    import tensorflow as tf

    keys = list(examples.spec)
    if examples.arrays is not None:
        tensors = {key: tf.constant(examples.arrays[key]) for key in keys}
        return lambda example, _: {key: tf.gather(tensors[key], example) for key in keys}

    read = examples.read

    def read_flat(example: np.int64, index: np.int64) -> list[np.ndarray]:
        rng = np.random.default_rng([seed, int(index)])
        values = read(int(example), rng)
        return [np.asarray(values[key], examples.spec[key][1]) for key in keys]

    return lambda example, index: _in_numpy(examples, read_flat, [example, index])


RECORD_SHUFFLE_BUFFER = 10_000  # raw records held to shuffle a set without random access


def _shuffled_records(examples: Examples, global_batch: int, seed: int, start_step, first, local):
    """(element index, raw record) of this pipeline's slice, from ``start_step`` on.

    A set without random access is shuffled through a seeded buffer, reshuffled every epoch:
    the order is a function of the seed, and a resumed run skips the raw records (not
    decoded) of the steps already trained on.
    """
    import tensorflow as tf

    buffer = min(examples.count, RECORD_SHUFFLE_BUFFER)
    dataset = (
        examples.records()
        .shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .enumerate()
        .skip(start_step * global_batch)
        .batch(global_batch, drop_remainder=True)
        .map(
            lambda index, record: (
                index[first : first + local],
                {key: value[first : first + local] for key, value in record.items()},
            )
        )
        .unbatch()
    )
    return dataset.map(lambda index, record: (tf.cast(index, tf.int64), record))


def _record_fetcher(examples: Examples, seed: int):
    """raw record, element index -> the example's tensors (``read_record`` in numpy)."""

    keys = list(examples.spec)
    read_record = examples.read_record

    def fetch(record: dict, index):
        names = sorted(record)

        def read_flat(index: np.int64, *values) -> list[np.ndarray]:
            rng = np.random.default_rng([seed, int(index)])
            arrays = read_record(dict(zip(names, values, strict=True)), rng)
            return [np.asarray(arrays[key], examples.spec[key][1]) for key in keys]

        return _in_numpy(examples, read_flat, [index, *(record[name] for name in names)])

    return fetch


def _in_numpy(examples: Examples, function, inputs: list) -> dict:
    """``function(*inputs)`` (numpy, returning one array per key of ``examples.spec``) as a
    step of the pipeline: the example's tensors, with their static shapes."""
    import tensorflow as tf

    keys = list(examples.spec)
    dtypes = [tf.as_dtype(examples.spec[key][1]) for key in keys]
    values = tf.numpy_function(function, inputs, dtypes, stateful=False)
    for key, value in zip(keys, values, strict=True):
        value.set_shape(examples.spec[key][0])
    return dict(zip(keys, values, strict=True))


def skip_unreadable(
    count: int,
    read_file: Callable[[int], Any],
    name_of: Callable[[int], str],
    skipped: set[str],
    where: str,
) -> Callable[[int], tuple[int, Any]]:
    """``index -> (file, read_file(file))`` trying file ``index``, then the next ones.

    An unreadable file (Pillow's many errors, a vanished file, ValueError) is warned about
    once and recorded in ``skipped``; a ZooError (a mistake in the data, not a bad file)
    is raised. After ``count`` failures in a row (nothing in ``where`` is readable) it is a
    ZooError.
    """

    def read(index: int) -> tuple[int, Any]:
        for attempt in range(count):
            file = (index + attempt) % count
            try:
                return file, read_file(file)
            except ZooError:
                raise
            except Exception as error:  # Pillow raises many types; all mean "unreadable"
                name = name_of(file)
                if name not in skipped:
                    skipped.add(name)
                    reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
                    warnings.warn(f"skipped unreadable image file {name}: {reason}", stacklevel=2)
        raise ZooError(f"no readable image in {where} ({count} file(s), none decodes)")

    return read
