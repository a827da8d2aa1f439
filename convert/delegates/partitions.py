"""What a delegate ends up with: TFLite's greedy partitions, the partitions a delegate keeps,
and the Edge TPU's single segment."""

from __future__ import annotations

from convert.delegates.graph import Graph
from convert.delegates.targets import MAX_PARTITIONS, MIN_PARTITION_NODES


def partition(graph: Graph, delegated: set[int]) -> list[tuple[bool, list[int]]]:
    """Node subsets as TFLite's greedy partitioner forms them: ``(delegated?, op indices)``.

    Each epoch scans the execution order until nothing changes and takes every op whose
    inputs are ready and whose kind matches the epoch's first ready op.
    """
    produced = {t.index for node in graph.nodes for t in node.outputs}
    ready: set[int] = set()
    done: set[int] = set()
    subsets: list[tuple[bool, list[int]]] = []
    while len(done) < len(graph.nodes):
        kind: bool | None = None
        members: list[int] = []
        progress = True
        while progress:
            progress = False
            for node in graph.nodes:
                index = node.op.index
                if index in done:
                    continue
                if any(t.index in produced and t.index not in ready for t in node.present_inputs):
                    continue
                node_kind = index in delegated
                if kind is None:
                    kind = node_kind
                if node_kind != kind:
                    continue
                done.add(index)
                members.append(index)
                ready.update(t.index for t in node.outputs)
                progress = True
        if not members:  # a cycle: cannot happen in a valid file
            break
        subsets.append((bool(kind), members))
    return subsets


def delegated_partitions(
    name: str, graph: Graph, reasons: dict[int, str], notes: list[str]
) -> tuple[set[int], int]:
    """Ops the delegate takes and its partition count, after its partition limits."""
    all_ops = {node.op.index for node in graph.nodes}
    supported = all_ops - set(reasons)
    fp16 = set()
    if name in {"gpu", "nnapi"}:  # the delegates built on FP16GraphPartitionHelper
        fp16 = {node.op.index for node in graph.nodes if graph.fp16_weights(node)}
    if fp16 and supported == all_ops:
        return supported, 1  # FP16GraphPartitionHelper: full delegation takes the DEQUANTIZEs too
    for index in fp16 & supported:
        reasons[index] = "float16-weights DEQUANTIZE stays on the CPU when the graph is split"
    supported -= fp16
    subsets = [members for kind, members in partition(graph, supported) if kind]
    limit, least = MAX_PARTITIONS[name], MIN_PARTITION_NODES.get(name, 1)
    kept = sorted(subsets, key=len, reverse=True)
    kept = [m for m in kept if len(m) >= least][: limit if limit is not None else len(kept)]
    if len(kept) < len(subsets):
        notes.append(
            f"{len(subsets)} partitions form; the delegate keeps "
            f"{'the largest ' + str(limit) if limit else 'those'}"
            + (f" of {least}+ ops" if least > 1 else "")
        )
        for members in subsets:
            if members not in kept:
                for index in members:
                    reasons[index] = "supported, but its partition is not among those delegated"
    return {i for members in kept for i in members}, len(subsets)


def edgetpu_segment(
    graph: Graph, reasons: dict[int, str], boundary: set[int]
) -> tuple[set[int], int]:
    """The Edge TPU compiler maps one segment: everything up to the first unmapped op."""
    mapped: set[int] = set()
    cut = None
    for node in graph.nodes:
        index = node.op.index
        if index in boundary:
            continue
        if cut is None and index in reasons:
            cut = node
        if cut is None:
            mapped.add(index)
        elif index not in reasons:
            reasons[index] = f"after #{cut.op.index} {cut.name}: the compiler maps one segment"
    return mapped, 1 if mapped else 0
