"""``Row`` and ``Report``: the table that :func:`~crossent_jax.verify.verify_all` returns."""

from __future__ import annotations

import dataclasses
import json

from crossent_jax._outputs import jsonable


@dataclasses.dataclass(frozen=True)
class Row:
    """One verified fact: ``loss`` (case name) × ``dtype`` × ``transform`` × ``check``.

    ``max_error`` is the largest absolute error, ``ratio`` the largest error divided by the
    allowed error (``atol·max|ref| + rtol·|ref|``), so a row passes when ``ratio ≤ 1``;
    ``note`` says why a row failed when the numbers alone do not (e.g. a NaN gradient).
    """

    loss: str
    dtype: str
    transform: str
    check: str
    max_error: float
    rtol: float
    atol: float
    ratio: float
    passed: bool
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Report:
    """All rows of a verification run, with ``seconds`` of wall time.

    >>> r = Report((Row("f[x]", "float32", "jit", "analytic", 1e-7, 1e-4, 1e-6, 0.01, True),))
    >>> r.passed, r.summary
    (True, '1/1 rows passed (1 losses, dtypes float32) in 0.0 s')
    >>> Report.from_json(r.to_json()) == r
    True
    """

    rows: tuple[Row, ...]
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(r.passed for r in self.rows)

    @property
    def failures(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if not r.passed)

    @property
    def summary(self) -> str:
        losses = {r.loss.split("[")[0] for r in self.rows}
        dtypes = sorted({r.dtype for r in self.rows})
        n_ok = len(self.rows) - len(self.failures)
        return (
            f"{n_ok}/{len(self.rows)} rows passed ({len(losses)} losses, dtypes "
            f"{', '.join(dtypes)}) in {self.seconds:.1f} s"
        )

    def to_markdown(self) -> str:
        """A GitHub-flavoured markdown table, one line per row, and the summary line."""
        head = ["loss", "dtype", "transform", "check", "max error", "tolerance", "ratio", "pass"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            tol = f"rtol {r.rtol:.1e}, atol {r.atol:.1e}"
            ok = "yes" if r.passed else f"**NO**{' — ' + r.note if r.note else ''}"
            lines.append(
                f"| {r.loss} | {r.dtype} | {r.transform} | {r.check} | {r.max_error:.2e} | "
                f"{tol} | {r.ratio:.2g} | {ok} |"
            )
        return "\n".join(lines) + f"\n\n{self.summary}\n"

    def to_dict(self) -> dict:
        """``{"passed", "summary", "seconds", "rows": [...]}`` (rows as dicts)."""
        return {"passed": self.passed, "summary": self.summary, "seconds": self.seconds,
                "rows": [dataclasses.asdict(r) for r in self.rows]}

    def to_json(self) -> str:
        """Strict JSON text of :meth:`to_dict`; a non-finite number (the ratio of a row that
        failed on a NaN) is written as ``null``, the kit's one convention."""
        return json.dumps(jsonable(self.to_dict()), indent=1, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> Report:
        """Read :meth:`to_json` (or a file written by ``crossent verify --json``, whose extra
        ``"meta"`` record is ignored); ``null`` numbers come back as ``inf``."""
        data = json.loads(text)
        rows = []
        for d in data["rows"]:
            for k in ("max_error", "rtol", "atol", "ratio"):
                d[k] = float("inf") if d[k] is None else float(d[k])
            rows.append(Row(**d))
        return cls(tuple(rows), float(data["seconds"]))
