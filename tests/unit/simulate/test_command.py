"""``recsvc simulate``: its help, and bad input answered in one line with exit 2."""

from __future__ import annotations

import pytest

from recsvc.cli import main


def test_help_names_the_policies_and_the_json(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for word in ("batch", "random", "--json", "--retrain-every", "--control-share", "no LLM"):
        assert word in text


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--days", "0"], "must be > 0"),
        (["--days", "61"], "--days must be in 1..60"),
        (["--history-days", "10"], "--history-days must be >= 45"),
        (["--control-share", "1"], "must be in [0, 1)"),
        (["--policies", "recsvc,spam"], "unknown ['spam']"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(["simulate", "-q", *args])
    except SystemExit as exc:  # argparse's own checks exit from inside
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
