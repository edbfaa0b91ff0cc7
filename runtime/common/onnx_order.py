"""Node order of an ONNX graph: each node after the producers of its inputs.

ONNX requires it, and TensorRT's parser and `onnx.checker` read nodes in list order; graph rewriters
(the FP16 converter appends the Casts it inserts) do not keep it. Works on the GraphProto alone, so it
needs no `onnx` import; shared by the FP16 export graph and the FP16 Q/DQ graph.
"""

from __future__ import annotations

from runtime.cli.errors import TubeletError


class GraphOrderError(TubeletError, ValueError):
    """The graph cannot be ordered: a cycle, or an input nothing produces."""


def topological_sort(graph) -> None:
    """Reorder `graph.node` in place so each node follows its inputs' producers (stable otherwise)."""
    known = {v.name for v in graph.input} | {t.name for t in graph.initializer} | {""}
    known |= {t.name for t in getattr(graph, "sparse_initializer", [])}
    pending, ordered = list(graph.node), []
    while pending:
        waiting = []
        for node in pending:  # one pass places every node whose inputs are known, in graph order
            if all(i in known for i in node.input):
                known.update(node.output)
                ordered.append(node)
            else:
                waiting.append(node)
        if len(waiting) == len(pending):
            missing = sorted(i for i in pending[0].input if i not in known)
            raise GraphOrderError(f"graph {graph.name!r} has a cycle or an input nothing produces at node "
                                  f"{pending[0].name!r} (inputs {missing})")
        pending = waiting
    del graph.node[:]
    graph.node.extend(ordered)
