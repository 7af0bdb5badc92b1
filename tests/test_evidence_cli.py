"""`commandpost evidence-store`, `hold`, `retention run` and `export` in a real process."""

from __future__ import annotations

from pathlib import Path

from .support import cli_on, declare_by_cli


def test_seal_show_verify_hold_and_export_from_the_command_line(tmp_path: Path) -> None:
    env = {
        "COMMANDPOST_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "COMMANDPOST_EXPORT_SIGNING_SECRET": "s3cret",
    }
    cli = cli_on(f"sqlite:///{tmp_path / 'cli.db'}", env)
    iid = declare_by_cli(cli)
    sample = tmp_path / "reply.txt"
    sample.write_text("quoted bob.smith@example.com")
    code, out, err = cli(
        "evidence-store", "add", iid, str(sample), "--as", "erin", "--kind", "output"
    )
    assert code == 0, err
    assert "bob.smith" not in out and "[email]" in out  # the transcript shows the channel's copy
    assert cli("evidence-store", "show", "1", "--as", "ivan")[0] == 2  # no --reason
    code, _, err = cli("evidence-store", "show", "1", "--as", "grace", "--reason", "why not")
    assert code == 2 and "cannot read sealed evidence" in err
    code, out, _ = cli("evidence-store", "show", "1", "--as", "ivan", "--reason", "review")
    assert code == 0 and out == "quoted bob.smith@example.com"
    assert cli("evidence-store", "verify")[0] == 0
    assert cli("hold", "place", iid, "--as", "ivan", "--reason", "litigation")[0] == 0
    code, _, err = cli("hold", "release", iid, "--as", "alice", "--reason", "done")
    assert code == 2 and "cannot release a legal hold" in err
    assert cli("retention", "run")[0] == 0
    archive = tmp_path / "out.zip"
    code, _, err = cli("export", iid, "--out", str(archive), "--as", "ivan", "--reason", "audit")
    assert code == 0, err
    assert cli("export-verify", str(archive))[0] == 0
    for blob in (tmp_path / "evidence").rglob("*"):
        if blob.is_file():
            blob.chmod(0o644)
            blob.write_bytes(b"swapped")
    code, _, err = cli("evidence-store", "verify")
    assert code == 1 and "CHANGED" in err
