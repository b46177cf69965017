"""InspectReport -> plain dicts and cell texts shared by every renderer of shapes/inspect."""

from __future__ import annotations

from archinspect.render.count_data import params_dict
from archinspect.render.fmt import num
from archinspect.report import InspectReport, LayerRow, XlaMemory

FLOPS_NOTE = "XLA's estimate (cost analysis of the compiled program); a multiply-add = 2 FLOPs"


def shape_text(shapes: tuple[tuple[int, ...], ...], sep: str = "×") -> str:
    return ", ".join(sep.join(str(d) for d in s) or "scalar" for s in shapes)


def rf_text(rf: tuple | None, compact: bool = False) -> str:
    """'(11,11) (3,3)' per axis; compact: one pair when every axis has the same."""
    if rf is None:
        return ""
    pairs = [f"({_rf_value(b)},{_rf_value(f)})" for b, f in rf]
    if compact and len(set(pairs)) == 1:
        return pairs[0] + (f"×{len(pairs)}" if len(pairs) > 1 else "")
    return " ".join(pairs)


def _rf_value(v: int | float) -> str:
    return "inf" if v == float("inf") else str(int(v))


def rf_json_value(v: int | float) -> int | str:
    return "inf" if v == float("inf") else int(v)


def xla_memory_dict(m: XlaMemory | None) -> dict | None:
    if m is None:
        return None
    return {
        "argument_bytes": m.argument_bytes,
        "output_bytes": m.output_bytes,
        "temp_bytes": m.temp_bytes,
        "alias_bytes": m.alias_bytes,
        "generated_code_bytes": m.generated_code_bytes,
        "peak_bytes": m.peak_bytes,
    }


def layer_dict(row: LayerRow) -> dict:
    out: dict = {
        "path": row.path,
        "type": row.type,
        "depth": row.depth,
        "input_shape": list(row.input_shapes[0]) if len(row.input_shapes) == 1 else None,
        "output_shape": list(row.output_shapes[0]) if len(row.output_shapes) == 1 else None,
        "params": row.params,
        "own_params": row.own_params,
        "calls": row.calls,
        "folded": row.folded,
    }
    if len(row.input_shapes) != 1:
        out["input_shapes"] = [list(s) for s in row.input_shapes]
    if len(row.output_shapes) != 1:
        out["output_shapes"] = [list(s) for s in row.output_shapes]
    if row.flops is not None:
        out["flops"] = row.flops
    if row.rf is not None:
        out["receptive_field"] = [[rf_json_value(b), rf_json_value(f)] for b, f in row.rf]
    return out


def report_dict(report: InspectReport, *, full: bool) -> dict:
    """The JSON object; `full` adds params, FLOPs and memory (inspect), else shapes only."""
    data: dict = {
        "name": report.name,
        "spec": report.spec,
        "family": report.family,
    }
    if report.target is not None:
        data["target"] = report.target
    data.update(
        {
            "platform": report.platform,
            "input_shape": list(report.input_shape),
            "output_shape": list(report.output_shape),
            "batch_size": report.batch_size,
            "dtype": report.dtype,
        }
    )
    if full:
        data["params"] = params_dict(report)
        if report.flops is not None:
            data["flops"] = {
                "forward": report.flops.forward,
                "per_sample": report.flops.per_sample,
                "batch_size": report.flops.batch_size,
                "method": report.flops.method,
                "note": FLOPS_NOTE,
            }
        if report.memory is not None:
            m = report.memory
            data["memory"] = {
                "param_bytes": m.param_bytes,
                "param_bytes_by_dtype": dict(m.param_bytes_by_dtype),
                "activation_bytes": m.activation_bytes,
                "forward": xla_memory_dict(m.forward),
                "train_step": xla_memory_dict(m.train_step),
            }
    if report.receptive_field is not None:
        from archinspect.render.rf_data import rf_dict

        data["receptive_field"] = rf_dict(report.receptive_field)
    data["depth"] = report.depth
    data["layers"] = [layer_dict(r) for r in report.layers]
    data["notes"] = list(report.notes)
    return data


def flops_text(row: LayerRow) -> str:
    return "" if row.flops is None else num(row.flops)
