"""The output folder of an export: what it may replace, where it stages, how it moves into place.

An export builds everything in a hidden staging folder beside the output and moves it into place
only when it is complete. `--overwrite` may replace only a folder that is a Tubelet artifact (its
manifest reads as one, and it holds nothing the manifest does not list) or an empty one, and never
the model folder, a folder holding it, a folder inside it, or the current directory: anything else
is refused before any work, and nothing is touched. Staging folders left behind by a killed export (SIGKILL, power loss) are swept by the next
export to the same output, but only ours (name pattern and marker file) and only once the process
that made them is gone.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Callable

from runtime.cli.errors import TubeletError

STAGING_MARKER = ".tubelet-staging"  # inside a staging folder: the pid of the export that owns it
_OWN_TEMP = re.compile(r"^.+\.tmp-\d+$")  # calibration's and the engine builder's files in progress
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<kind>staging|old)-(?P<pid>\d+)$")


class OutputError(TubeletError):
    """The output folder cannot be written as asked."""


class OutputExistsError(OutputError, FileExistsError):
    """The output folder exists and --overwrite was not given."""


class UnsafeOutputError(OutputError, ValueError):
    """Writing the output would replace something that is not a Tubelet artifact, or the model itself."""


def check_output(output: str | os.PathLike, model: str | None, overwrite: bool) -> Path:
    """The output folder, resolved (symlinks, `.`, `..`), once it is safe to write; raise otherwise."""
    given = os.fspath(output)  # as typed: Path() would drop a trailing "/."
    target = Path(given).expanduser().resolve()
    where = given if given == str(target) else f"{given} ({target})"
    source = _local_model(model)
    if source is not None:
        if target == source:
            raise UnsafeOutputError(f"--output {where} is the model folder itself; choose a new folder for the artifact")
        if source.is_relative_to(target):
            raise UnsafeOutputError(f"--output {where} contains the model folder {source}; choose a folder outside it")
        if target.is_relative_to(source):
            raise UnsafeOutputError(f"--output {where} lies inside the model folder {source}; choose a folder outside it")
    cwd = Path.cwd().resolve()
    if cwd.is_relative_to(target):
        raise UnsafeOutputError(f"--output {where} is or contains the current directory; choose a new folder")
    if os.path.lexists(target):
        _check_replaceable(target, where, overwrite)
    else:
        _check_creatable(target, where)
    return target


def _check_creatable(target: Path, where: str) -> None:
    """The nearest existing folder above a new output must be a writable folder (not a file)."""
    above = target.parent
    while not os.path.lexists(above) and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise UnsafeOutputError(f"--output {where} lies under {above}, which is a file, not a folder")
    if not os.access(above, os.W_OK | os.X_OK):
        raise UnsafeOutputError(f"--output {where}: cannot create folders in {above} (permission denied); "
                                "choose a folder you can write to")


def _local_model(model: str | None) -> Path | None:
    if model is None:
        return None
    path = Path(model).expanduser()
    return path.resolve() if path.exists() else None


def _check_replaceable(target: Path, where: str, overwrite: bool) -> None:
    from runtime.artifact import ArtifactError, read_manifest

    if not target.is_dir():
        raise UnsafeOutputError(f"--output {where} is a file, not an artifact folder; choose a folder name")
    empty = not any(target.iterdir())
    if not empty:
        try:
            manifest = read_manifest(target)
        except (ArtifactError, OSError) as exc:
            raise UnsafeOutputError(f"--output {where} exists and is not a Tubelet artifact ({exc}); "
                                    "--overwrite replaces only artifact folders: choose a new folder") from None
        foreign = unlisted_files(target, manifest)
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise UnsafeOutputError(f"--output {where} is an artifact but also holds what its manifest does not list "
                                    f"({shown}); replacing it would delete them: move them out or choose a new folder")
    if not overwrite:
        raise OutputExistsError(f"--output {where} exists; pass --overwrite to replace it "
                                "(the old one is kept until the new one is complete)")


def unlisted_files(folder: Path, manifest) -> list[str]:
    """Paths under an artifact folder that are neither its manifest nor a file it lists: someone else's.

    Temporary files of Tubelet's own atomic writes ("[.]NAME.tmp-PID", "manifest.json.tmp") are ours.
    """
    listed = set(manifest.files) | {"manifest.json", "manifest.json.tmp"}
    found = []
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if name in listed or (path.is_dir() and not path.is_symlink() and any(n.startswith(name + "/") for n in listed)):
            continue
        if path.parent == folder and _OWN_TEMP.match(path.name):
            continue
        if any(f.endswith("/") and name.startswith(f) for f in found):
            continue  # inside a folder already named
        found.append(name + ("/" if path.is_dir() and not path.is_symlink() else ""))
    return found


def new_staging(output: str | os.PathLike, overwrite: bool, model: str | None = None,
                log: Callable[[str], None] | None = None) -> Path:
    """An empty staging folder beside the checked output (same filesystem, so the final move is atomic)."""
    target = check_output(output, model, overwrite)
    existed = os.path.lexists(target)
    sweep_leftovers(target, log)
    if not existed and os.path.lexists(target):
        check_output(output, model, overwrite)  # an artifact was put back at the output: check it as one
    staging = target.parent / f".{target.name}.staging-{os.getpid()}"
    if staging.exists():  # this very process made it earlier (an API caller exporting twice)
        _remove_own(staging)
    staging.mkdir(parents=True)
    (staging / STAGING_MARKER).write_text(str(os.getpid()), encoding="utf-8")
    return staging


def sweep_leftovers(target: Path, log: Callable[[str], None] | None = None) -> list[Path]:
    """Remove staging folders of this output whose export is gone; put back an artifact set aside by one.

    A `.old-PID` folder is the previous artifact, set aside for the instant between two renames: if the
    export died there and the output is missing, it is moved back rather than deleted.
    """
    if not target.parent.is_dir():
        return []
    swept = []
    for entry in sorted(target.parent.iterdir()):
        match = _LEFTOVER.match(entry.name)
        if not match or match["name"] != target.name or entry.is_symlink() or not entry.is_dir():
            continue
        pid = int(match["pid"])
        if _alive(pid):
            continue
        if match["kind"] == "staging":
            if _marker_pid(entry) != pid:
                continue  # not a folder this exporter made: leave it alone
            shutil.rmtree(entry)
        elif not _is_artifact(entry):
            continue
        elif not os.path.lexists(target):
            os.replace(entry, target)
            _say(log, f"  note: restored {target} from an export that was killed while replacing it")
        else:
            shutil.rmtree(entry)
        swept.append(entry)
    if swept and log is not None:
        _say(log, f"  note: removed {len(swept)} staging folder(s) left by killed exports beside {target}")
    return swept


def _say(log, message: str) -> None:
    if log is not None:
        log(message)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    except (OverflowError, OSError):
        return False
    return True


def _marker_pid(folder: Path) -> int | None:
    try:
        return int((folder / STAGING_MARKER).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def _is_artifact(folder: Path) -> bool:
    from runtime.artifact import ArtifactError, read_manifest

    try:
        read_manifest(folder)
    except (ArtifactError, OSError):
        return False
    return True


def _remove_own(staging: Path) -> None:
    if _marker_pid(staging) != os.getpid():
        raise UnsafeOutputError(f"{staging} exists and was not made by this export; remove it or choose another output")
    shutil.rmtree(staging)


def discard_staging(staging: Path) -> None:
    """Remove a staging folder this process made (after a failure, or once it has been moved)."""
    if staging.is_dir() and not staging.is_symlink() and _marker_pid(staging) == os.getpid():
        shutil.rmtree(staging, ignore_errors=True)


def move_into_place(staging: Path, output: Path) -> None:
    """Swap the finished staging folder in; the previous artifact is put back if anything fails."""
    marker = staging / STAGING_MARKER
    marker.unlink()  # the published artifact must not carry it
    try:
        _swap(staging, output)
    except BaseException:
        if staging.is_dir():  # still ours: mark it again so it is cleaned up
            marker.write_text(str(os.getpid()), encoding="utf-8")
        raise


def _swap(staging: Path, output: Path) -> None:
    if not os.path.lexists(output):
        os.replace(staging, output)
        return
    old = output.parent / f".{output.name}.old-{os.getpid()}"
    os.replace(output, old)
    try:
        os.replace(staging, output)
    except BaseException:  # an OSError, or Ctrl-C between the two renames
        os.replace(old, output)
        raise
    shutil.rmtree(old, ignore_errors=True)
