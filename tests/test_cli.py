"""`seig check` and `seig render` as a user runs them (real processes, real Blender)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def seig(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_check_accepts_the_example_and_rejects_with_line_and_rule(tmp_path):
    ok = seig("check", "examples/scenes/street.py")
    assert ok.returncode == 0 and "ok" in ok.stdout
    bad = tmp_path / "bad.py"
    bad.write_text("import bpy\n\nbpy.ops.wm.save_as_mainfile(filepath='/tmp/x.blend')\n")
    res = seig("check", str(bad))
    assert res.returncode == 1
    assert f"{bad}:3: [bpy-ops]" in res.stderr and f"{bad}:3: [bpy-api]" in res.stderr


def test_render_writes_png(tmp_path):
    out = tmp_path / "street.png"
    res = seig("render", "examples/scenes/street.py", "--out", str(out), "--width", "96", "--height", "64",
               "--samples", "2")
    assert res.returncode == 0, res.stderr
    assert Image.open(out).size == (96, 64)


def test_failing_rejected_and_timed_out_programs_write_nothing(tmp_path):
    cases = {
        "fails.py": ("import bpy\nraise ValueError('boom')\n", "line 2"),
        "rejected.py": ("import subprocess\n", "[import]"),
        "loops.py": ("while True:\n    pass\n", "timeout"),
    }
    for name, (source, needle) in cases.items():
        program = tmp_path / name
        program.write_text(source)
        out = tmp_path / (name + ".png")
        res = seig("render", str(program), "--out", str(out), "--timeout", "3")
        assert res.returncode == 1, name
        assert needle in res.stderr, (name, res.stderr)
        assert not out.exists(), name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(cases)  # no temp files left behind


def test_scene_program_runs_standalone(tmp_path):
    """The contract: a program renders with plain `python scene.py -- --render OUT` where bpy imports."""
    out = tmp_path / "alone.png"
    from scene_program.writer import section_params, with_section_params
    from scene_program.sections import parse

    program = (ROOT / "examples/scenes/street.py").read_text()
    render = section_params(parse(program).get("scene"), "scene") | {"width": 64, "height": 48, "samples": 2}
    program = with_section_params(program, "scene", render)
    path = tmp_path / "scene.py"
    path.write_text(program)
    res = subprocess.run([sys.executable, str(path), "--", "--render", str(out)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert Image.open(out).size == (64, 48)


def test_readme_standalone_command_with_a_relative_path(tmp_path):
    """`python scene.py -- --render out.png` as the README says it: a relative path is the current directory."""
    res = subprocess.run([sys.executable, str(ROOT / "examples/scenes/street.py"), "--", "--render", "out.png"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    with Image.open(tmp_path / "out.png") as png:
        assert png.size == (256, 192) and png.format == "PNG"
        assert len(png.convert("RGB").getcolors(maxcolors=1 << 16) or range(99)) > 50  # a picture, not a blank


def test_reconstruct_runs_good_photos_and_fails_bad_ones_clearly(tmp_path):
    good = ROOT / "examples/photos/storm_road.jpg"
    corrupt = tmp_path / "cut.jpg"
    corrupt.write_bytes(good.read_bytes()[:2000])
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (1, 1)).save(tiny)
    out = tmp_path / "out"
    res = seig("reconstruct", str(good), str(corrupt), str(tmp_path / "missing.jpg"), str(tiny), "--out", str(out),
               "--width", "64", "--height", "42", "--samples", "1",
               "--set", "reconstruct.rounds={geometry: 1, materials: 1, composition: 1, lighting: 1}",
               "--set", "reconstruct.offline.candidates=1", timeout=300)
    assert res.returncode == 1  # some images failed
    assert "[photo_corrupt]" in res.stderr and "[photo_missing]" in res.stderr and "[photo_too_small]" in res.stderr
    done = out / "storm_road"
    for name in ["scene.py", "render.png", "record.json"] + [
            f"stages/{s}/{f}" for s in ("geometry", "materials", "composition", "lighting") for f in ("best.py", "best.png")]:
        assert (done / name).exists(), name
    assert "storm_road" in res.stdout and "PSNR / SSIM after each stage" in res.stdout
    assert not (out / "cut").exists() and not (out / "tiny").exists()  # failed images leave no half output


def test_reconstruct_takes_a_stated_camera_or_refuses_it_in_one_line(tmp_path):
    from scene_program.reader import read_scene

    good = ROOT / "examples/photos/storm_road.jpg"
    bad = seig("reconstruct", str(good), "--out", str(tmp_path / "x"), "--focal-35mm", "500")
    _one_line_exit_2(bad, "--focal-35mm 500 is not a 35 mm-equivalent focal length")
    bad = seig("reconstruct", str(good), "--out", str(tmp_path / "x"), "--camera-height", "0")
    _one_line_exit_2(bad, "--camera-height 0 is not a camera height (0.3-50 m)")
    res = seig("reconstruct", str(good), "--out", str(tmp_path / "out"), "--focal-35mm", "50", "--camera-height",
               "3.3", "--width", "64", "--height", "42", "--samples", "1",
               "--set", "reconstruct.rounds={geometry: 0, materials: 0, composition: 0, lighting: 0}", timeout=300)
    assert res.returncode == 0, res.stderr
    cam = read_scene((tmp_path / "out/storm_road/scene.py").read_text()).composition.camera
    w, h = Image.open(good).size
    assert abs(cam.focal_mm - 50 / 43.2666 * (w * w + h * h) ** 0.5 / max(w, h) * 36.0) < 0.01
    assert abs(cam.location[2] - 3.3) < 0.033  # the prior is 2.12 m outdoors, 1.3 m indoors


# --- `seig run` and `seig manifest`: errors before anything starts ---------------------------
def _one_line_exit_2(res: subprocess.CompletedProcess, *needles: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert all(n in lines[0] for n in needles), (needles, lines[0])


def test_run_config_errors_are_one_line_with_exit_2(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = ("run", "--config", "configs/local.yaml", "--output", str(tmp_path / "out"), "--no-progress")
    _one_line_exit_2(seig(*base, "--set", "run.output=[x"), "run.output", "not valid YAML")
    _one_line_exit_2(seig(*base, "--set", "reconstruct.rounds.texture=1"), "reconstruct.rounds", "texture")
    _one_line_exit_2(seig(*base, "--set", "actors.count=0", "--set", "run.max_in_flight=x"),
                     "actors.count", "run.max_in_flight")
    _one_line_exit_2(seig(*base, "--manifest", str(tmp_path / "nope.parquet")), "run.manifest:", "no such file")
    manifest = tmp_path / "m.parquet"
    pq.write_table(pa.table({"image_id": ["a"], "uri": [str(ROOT / "examples/photos/storm_road.jpg")]}), manifest)
    (tmp_path / "file").write_text("not a folder")
    _one_line_exit_2(seig(*base, "--manifest", str(manifest), "--output", str(tmp_path / "file" / "out")),
                     "run.output:", "not writable")
    _one_line_exit_2(seig(*base, "--manifest", str(manifest), "--set", "actors.num_cpus=1",
                          "--set", "ray.num_cpus=2"), "actors.count 2 x actors.num_cpus 1", "CPUs")


def test_run_checks_the_vlm_endpoint_and_model_before_starting(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.fake_openai import FakeOpenAI

    manifest = tmp_path / "m.parquet"
    pq.write_table(pa.table({"image_id": ["a"], "uri": [str(ROOT / "examples/photos/storm_road.jpg")]}), manifest)
    base = ("run", "--config", "configs/local.yaml", "--manifest", str(manifest), "--output", str(tmp_path / "out"),
            "--no-progress", "--set", "reconstruct.backend=openai")
    with FakeOpenAI(model="served-model") as fake:
        wrong = f"reconstruct.openai={{base_url: '{fake.base_url}', model: other-model, api_key_env: null}}"
        _one_line_exit_2(seig(*base, "--set", wrong), "reconstruct.openai.model", "'other-model'", "served-model")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = f"reconstruct.openai={{base_url: 'http://127.0.0.1:{port}/v1', model: m, api_key_env: null}}"
    _one_line_exit_2(seig(*base, "--set", down), "reconstruct.openai.base_url", "cannot connect")
    nokey = "reconstruct.openai={model: m, api_key_env: SEIG_TEST_UNSET_KEY}"
    _one_line_exit_2(seig(*base, "--set", nokey), "reconstruct.openai.api_key_env", "SEIG_TEST_UNSET_KEY")


def test_manifest_from_s3_with_an_endpoint(tmp_path, monkeypatch):
    import pyarrow.parquet as pq
    import s3fs

    from tests.s3_server import MotoS3

    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    moto = MotoS3()
    try:
        fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": moto.endpoint}, skip_instance_cache=True)
        fs.mkdir("photos-in")
        for p in sorted((ROOT / "examples/photos").glob("*.jpg"))[:2]:
            fs.put(str(p), f"photos-in/street/{p.name}")
        out = tmp_path / "m.parquet"
        res = seig("manifest", "s3://photos-in/street", "--out", str(out), "--endpoint-url", moto.endpoint)
        assert res.returncode == 0, res.stderr
        table = pq.read_table(out)
        assert table.num_rows == 2 and all(u.startswith("s3://photos-in/street/") for u in table["uri"].to_pylist())
        _one_line_exit_2(seig("manifest", "s3://no-such-bucket/x", "--out", str(tmp_path / "n.parquet"),
                              "--endpoint-url", moto.endpoint), "no-such-bucket", "bucket does not exist")
        _one_line_exit_2(seig("manifest", str(tmp_path / "none"), "--out", str(tmp_path / "n.parquet")),
                         "no such file")
        _one_line_exit_2(seig("manifest", "x", "--out", "y", "--storage-options", "[a"), "--storage-options")
    finally:
        moto.stop()


def test_render_denoises_when_asked(tmp_path):
    """`--denoise` renders as reconstructions do (their RENDER asks for Cycles' denoiser):
    the same program and samples give a smoother image than without it."""
    import numpy as np
    from PIL import Image

    base = ["render", "examples/scenes/street.py", "--width", "64", "--height", "48", "--samples", "2"]
    assert seig(*base, "--out", str(tmp_path / "raw.png")).returncode == 0
    assert seig(*base, "--denoise", "--out", str(tmp_path / "clean.png")).returncode == 0
    raw, clean = (np.asarray(Image.open(tmp_path / f"{n}.png").convert("L"), dtype=float) for n in ("raw", "clean"))
    grain = lambda img: np.abs(np.diff(img, axis=1)).mean()  # noqa: E731 - pixel-to-pixel variation
    assert grain(clean) < 0.8 * grain(raw), (grain(clean), grain(raw))
