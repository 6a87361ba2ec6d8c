"""The `modelward run` launcher runs a script as `python script.py` would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from modelward.cli.run import launch_command


def test_python_commands_go_through_the_launcher_others_do_not() -> None:
    assert launch_command(["python", "train.py", "--x"]) == [
        sys.executable,
        "-m",
        "modelward.registry.launch",
        "train.py",
        "--x",
    ]
    assert launch_command(["python3", "-m", "pkg.train"])[1:3] == [
        "-m",
        "modelward.registry.launch",
    ]
    assert launch_command(["/opt/py/bin/python3.11", "t.py"])[0] == "/opt/py/bin/python3.11"
    assert launch_command(["python", "-c", "print(1)"]) == ["python", "-c", "print(1)"]
    assert launch_command(["bash", "train.sh"]) == ["bash", "train.sh"]


def test_script_sees_main_argv_file_path_and_multiprocessing_works(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(
        "import multiprocessing as mp, sys, os\n"
        "def square(x):\n    return x * x\n"
        "if __name__ == '__main__':\n"
        "    assert os.path.samefile(__file__, sys.argv[0])\n"
        "    assert sys.path[0] == os.path.dirname(os.path.abspath(__file__))\n"
        "    with mp.get_context('spawn').Pool(1) as pool:\n"
        "        print(pool.map(square, [2, 3]), sys.argv[1:])\n"
        "    sys.exit(3)\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "modelward.registry.launch", str(script), "a"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout.strip() == "[4, 9] ['a']"
