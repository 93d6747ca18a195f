"""setup.sh's system step: missing packages are installed with apt-get when it can, else named.

Each case runs ``./setup.sh --system-only`` with PATH limited to a folder of stand-ins (a fake
``apt-get``, ``sudo`` and ``id``), so nothing is ever installed on the machine running the tests.
"""

import shutil
import subprocess
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SETUP = PROJECT_ROOT / "setup.sh"
NEEDED = {"build-essential", "tmux"}
"""Packages whose commands (cc, c++, tmux) are never in the stand-in PATH or an sbin folder."""

APT_GET = """#!/bin/bash
echo "apt-get $*" >> "$APT_LOG"
if [ "$1" = update ]; then : > "$APT_LOG.updated"; fi
if [ "$1" = install ] && [ -n "${FAIL_UNTIL_UPDATE:-}" ] && [ ! -e "$APT_LOG.updated" ]; then
    echo "E: Unable to locate package" >&2
    exit 100
fi
exit 0
"""
SUDO_PASSWORDLESS = '#!/bin/bash\n[ "$1" = -n ] && shift\n[ "$1" = true ] && exit 0\nexec "$@"\n'
SUDO_NEEDS_PASSWORD = "#!/bin/bash\nexit 1\n"


def stand_ins(folder: Path, *, uid: int, sudo: str | None, present: tuple[str, ...] = ()) -> Path:
    """A bin folder of the fake apt-get, id and sudo, the real dirname and env, and ``present``."""
    folder.mkdir()
    scripts = {"apt-get": APT_GET, "id": f"#!/bin/bash\necho {uid}\n"}
    if sudo is not None:
        scripts["sudo"] = sudo
    scripts.update({name: "#!/bin/bash\nexit 0\n" for name in present})
    for name, text in scripts.items():
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    for tool in ("dirname", "env"):
        real = shutil.which(tool)
        assert real is not None, tool
        (folder / tool).symlink_to(real)
    return folder


def system_step(
    bin_dir: Path, log: Path, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ``setup.sh --system-only`` on the stand-ins; return the result and apt-get's calls."""
    result = subprocess.run(
        ["/bin/bash", str(SETUP), "--system-only"],
        env={"PATH": str(bin_dir), "APT_LOG": str(log), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls


def installed(call: str) -> set[str]:
    """The packages of one ``apt-get install`` call."""
    words = call.split()
    assert words[:4] == ["apt-get", "install", "-y", "-qq"], call
    return set(words[4:])


def test_nothing_happens_when_every_command_is_there(tmp_path: Path) -> None:
    bin_dir = stand_ins(
        tmp_path / "bin", uid=0, sudo=None, present=("cc", "c++", "mosquitto", "tmux")
    )
    result, calls = system_step(bin_dir, tmp_path / "apt.log")
    assert result.returncode == 0, result.stderr
    assert calls == [] and result.stdout == "" and result.stderr == ""


def test_root_installs_the_missing_packages_without_an_update_first(tmp_path: Path) -> None:
    result, calls = system_step(stand_ins(tmp_path / "bin", uid=0, sudo=None), tmp_path / "apt.log")
    assert result.returncode == 0, result.stderr
    assert len(calls) == 1
    assert NEEDED <= installed(calls[0]) <= NEEDED | {"mosquitto"}
    assert "==> installing system packages" in result.stdout


def test_apt_get_update_runs_only_when_the_install_failed_without_it(tmp_path: Path) -> None:
    bin_dir = stand_ins(tmp_path / "bin", uid=0, sudo=None)
    result, calls = system_step(bin_dir, tmp_path / "apt.log", FAIL_UNTIL_UPDATE="1")
    assert result.returncode == 0, result.stderr
    assert [call.split()[1] for call in calls] == ["install", "update", "install"]
    assert installed(calls[0]) == installed(calls[2])
    assert "could not install" not in result.stderr


def test_passwordless_sudo_is_used_by_a_normal_user(tmp_path: Path) -> None:
    bin_dir = stand_ins(tmp_path / "bin", uid=1000, sudo=SUDO_PASSWORDLESS)
    result, calls = system_step(bin_dir, tmp_path / "apt.log")
    assert result.returncode == 0, result.stderr
    assert len(calls) == 1 and installed(calls[0]) >= NEEDED


def test_without_root_or_sudo_it_prints_the_command_and_goes_on(tmp_path: Path) -> None:
    for name, sudo in (("no-sudo", None), ("sudo-with-password", SUDO_NEEDS_PASSWORD)):
        bin_dir = stand_ins(tmp_path / name, uid=1000, sudo=sudo)
        result, calls = system_step(bin_dir, tmp_path / f"{name}.log")
        assert result.returncode == 0, result.stderr
        assert calls == []
        command = result.stderr.splitlines()[-1].split("install them with: ", 1)[1]
        assert command.startswith("sudo apt-get install -y ")
        assert set(command.split()[4:]) >= NEEDED


def test_a_failing_apt_get_is_reported_and_the_install_goes_on(tmp_path: Path) -> None:
    bin_dir = stand_ins(tmp_path / "bin", uid=0, sudo=None)
    (bin_dir / "apt-get").write_text('#!/bin/bash\necho "apt-get $*" >> "$APT_LOG"\nexit 100\n')
    result, calls = system_step(bin_dir, tmp_path / "apt.log")
    assert result.returncode == 0, result.stderr
    assert [call.split()[1] for call in calls] == ["install", "update"]
    assert "apt-get could not install" in result.stderr
    assert "install them with: apt-get install -y " in result.stderr
