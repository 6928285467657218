"""The run report: made from real small runs (local Ray, real Blender, moto's real S3),
opened from disk in real headless Chromium (Debian's `chromium`, driven by Playwright).

The screenshot of the local run's report is kept in the test's temporary folder (its
path is printed: `pytest -s`), and copied to $SEIG_REPORT_SCREENSHOT when that is set.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.cli import main
from pipeline.report import PREVIEWS, ReportOptions, write_report
from pipeline.report.assets import THUMB_PX, make_thumbnail
from pipeline.report.cli import report_after_run

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
FAST = ["reconstruct.long_side=48", "reconstruct.samples=1", "reconstruct.offline.candidates=1",
        "reconstruct.rounds={geometry: 1, materials: 1, composition: 0, lighting: 0}",
        "reconstruct.keep_round_renders=false", "actors.count=2",
        "dataset.long_side=48", "dataset.samples=1", "dataset.variants=0"]  # sample 00: its previews


def _manifest(path: Path, ids: list[str], uris: list[str]) -> str:
    pq.write_table(pa.table({"image_id": ids, "uri": uris}), path)
    return str(path)


def _seig_run(manifest: str, output: str, run_id: str, *more: str) -> int:
    args = ["run", "--config", str(ROOT / "configs/local.yaml"), "--manifest", manifest, "--output", output,
            "--run-id", run_id, "--no-progress"]
    for item in [*FAST, *more]:
        args += ["--set", item]
    return main(args)


def _results(run: Path) -> list[dict]:
    return pq.ParquetDataset(sorted((run / "results").glob("*.parquet"))).read().to_pylist()


@pytest.fixture(scope="module")
def local_run(ray_local, tmp_path_factory, photos):
    """A real run through `seig run`: two good photos, a truncated one, a text file."""
    d = tmp_path_factory.mktemp("report-run")
    good = photos[:2]
    (d / "corrupt.jpg").write_bytes(photos[2].read_bytes()[:3000])
    (d / "notes.jpg").write_text("not an image")
    ids = [p.stem for p in good] + ["corrupt", "notes"]
    uris = [str(p) for p in good] + [str(d / "corrupt.jpg"), str(d / "notes.jpg")]
    manifest = _manifest(d / "m.parquet", ids, uris)
    rc = _seig_run(manifest, str(d / "out"), "r1")
    assert rc == 0
    return d / "out" / "r1"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), f"{CHROMIUM} missing: run scripts/install_chromium.sh"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


class Page:
    """A page opened from file:// that records console errors, page errors and every
    request that is not a local file (which it refuses: the report must work offline)."""

    def __init__(self, browser, index: Path):
        self.errors: list[str] = []
        self.remote: list[str] = []
        self.page = browser.new_page(viewport={"width": 1300, "height": 900})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.route("**/*", self._route)
        self.page.goto(index.as_uri())
        self.page.wait_for_load_state("load")

    def _route(self, route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            self.remote.append(route.request.url)
            route.abort()

    def images(self) -> list[dict]:
        return self.page.eval_on_selector_all(
            ".card img", "els => els.map(e => ({alt: e.alt, complete: e.complete, w: e.naturalWidth,"
                         " card: e.closest('.card').dataset.id}))")

    def order(self) -> list[str]:
        return self.page.eval_on_selector_all(".card:not([hidden])", "els => els.map(e => e.dataset.id)")


def test_seig_run_ends_with_a_report_that_works_in_chromium(local_run, browser, tmp_path):
    index = local_run / "report" / "index.html"
    assert index.exists(), "seig run did not write its report"
    rows = _results(local_run)
    ok = [r for r in rows if r["status"] == "ok"]
    failed = {r["image_id"]: r["error_kind"] for r in rows if r["status"] != "ok"}
    assert len(ok) == 2 and failed == {"corrupt": "photo_corrupt", "notes": "photo_not_an_image"}

    scenes = local_run / "scenes"
    for row in ok:  # written by the run's own dataset step (configs/local.yaml turns it on)
        assert all((scenes / row["image_id"] / rel).is_file() for rel in PREVIEWS.values()), row["image_id"]
    thumbs = local_run / "report" / "thumbs"
    assert sum("-depth-" in p.name or "-semantic-" in p.name for p in thumbs.iterdir()) == 4
    for rel in PREVIEWS.values():  # an image without previews (its dataset failed): omitted, not broken
        (scenes / ok[1]["image_id"] / rel).unlink()
    for p in thumbs.iterdir():  # (a thumbnail is kept by image id: drop the previews' to see that)
        if "-depth-" in p.name or "-semantic-" in p.name:
            p.unlink()
    before = {p.name: p.stat().st_mtime_ns for p in thumbs.iterdir()}
    assert main(["report", str(local_run)]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in thumbs.iterdir()}
    assert all(after[n] == t for n, t in before.items()), "a thumbnail was made twice"
    assert len(after) == len(before) + 2  # only the first image's two previews are new

    page = Page(browser, index)
    try:
        assert page.errors == [] and page.remote == []
        cards = page.order()
        assert sorted(cards) == sorted(r["image_id"] for r in rows)  # a card per image of a small run
        imgs = page.images()
        broken = [i for i in imgs if not i["complete"] or i["w"] == 0]
        assert imgs and not broken, broken
        by_card = {}
        for i in imgs:
            by_card.setdefault(i["card"], []).append(i["alt"].split(" of ")[0])
        assert by_card[ok[0]["image_id"]] == ["photo", "render", "depth", "semantic"]
        assert by_card[ok[1]["image_id"]] == ["photo", "render"]  # no previews: omitted, not broken
        assert "notes" not in by_card and "corrupt" not in by_card  # unreadable photos: a reason, no <img>
        reason = page.page.inner_text('.card[data-id="corrupt"] .nopic')
        assert "corrupt" in reason or "truncated" in reason

        listed = page.page.eval_on_selector_all("#failures tr.failure", "els => els.map(e => e.dataset.id)")
        assert sorted(listed) == sorted(failed)
        kinds = page.page.eval_on_selector_all("#failures tbody.kind", "els => els.map(e => e.dataset.kind)")
        assert sorted(kinds) == sorted(set(failed.values()))

        by_psnr = [r["image_id"] for r in sorted(ok, key=lambda r: -r["final_psnr"])]
        assert cards[:2] == by_psnr  # default: best first, failures (no score) last
        page.page.select_option("#sort", "psnr-asc")
        assert page.order()[:2] == by_psnr[::-1] and page.order() != cards
        page.page.select_option("#status", "failed")
        assert sorted(page.order()) == sorted(failed)
        page.page.select_option("#kind", "photo_corrupt")
        assert page.order() == ["corrupt"]
        page.page.select_option("#status", "")
        page.page.select_option("#kind", "")

        for name in ("scene.py", "record.json"):  # relative links that resolve to the run's files
            href = page.page.get_attribute(f'.card[data-id="{ok[0]["image_id"]}"] footer a:text("{name}")', "href")
            assert not href.startswith(("/", "file:")), href
            target = Path(unquote(urlparse(index.as_uri()).path)).parent / unquote(href)
            assert target.resolve() == (local_run / "scenes" / ok[0]["image_id"] / name).resolve()
        assert page.page.locator("svg.chart").count() == 4
        shot = tmp_path / "report.png"
        page.page.screenshot(path=str(shot), full_page=True)
        print(f"\nreport screenshot: {shot}")
        if os.environ.get("SEIG_REPORT_SCREENSHOT"):
            shutil.copy(shot, os.environ["SEIG_REPORT_SCREENSHOT"])
        assert page.errors == []
    finally:
        page.page.close()


def test_report_next_to_an_s3_run_opens_after_a_sync(ray_local, browser, tmp_path, photos, monkeypatch):
    import s3fs

    from tests.s3_server import MotoS3

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)  # the driver's; the workers have the same from conftest (no secret travels with a task)
    moto = MotoS3()  # moto's state is per process: buckets of other tests' servers are there too
    try:
        s3 = s3fs.S3FileSystem(client_kwargs={"endpoint_url": moto.endpoint})
        s3.mkdir("report-in")
        s3.mkdir("report-out")
        s3.put(str(photos[0]), f"report-in/{photos[0].name}")
        s3.pipe("report-in/corrupt.jpg", photos[1].read_bytes()[:2000])
        s3.put(_manifest(tmp_path / "m.parquet", [photos[0].stem, "corrupt"],
                         [f"s3://report-in/{photos[0].name}", "s3://report-in/corrupt.jpg"]), "report-in/m.parquet")
        opts = f"run.storage_options={{client_kwargs: {{endpoint_url: '{moto.endpoint}'}}}}"
        assert _seig_run("s3://report-in/m.parquet", "s3://report-out/runs", "s3r", opts) == 0
        assert s3.exists("report-out/runs/s3r/report/index.html")  # written next to the run
        assert s3.ls("report-out/runs/s3r/report/thumbs")

        synced = tmp_path / "laptop"  # what `aws s3 sync s3://report-out/runs/s3r ./s3r` gives
        s3.get("report-out/runs/s3r/", str(synced / "s3r"), recursive=True)
        elsewhere = tmp_path / "local-report"  # and a report of the S3 run written to local disk
        assert main(["report", "s3://report-out/runs/s3r", "--out", str(elsewhere), "--set", opts]) == 0
        for index in (synced / "s3r" / "report" / "index.html", elsewhere / "index.html"):
            page = Page(browser, index)
            try:
                assert page.errors == [] and page.remote == []
                imgs = page.images()
                assert [i["alt"] for i in imgs] == [f"{kind} of {photos[0].stem}"
                                                    for kind in ("photo", "render", "depth", "semantic")]
                assert all(i["complete"] and i["w"] > 0 for i in imgs), imgs
                listed = page.page.eval_on_selector_all("#failures tr.failure", "els => els.map(e => e.dataset.id)")
                assert listed == ["corrupt"]
                for name in ("scene.py", "record.json"):
                    href = page.page.get_attribute(f"footer a:text('{name}')", "href")
                    target = index.parent / unquote(href)
                    assert target.is_file() and target.stat().st_size > 0, href
                    assert target.read_bytes() == s3.cat(f"report-out/runs/s3r/scenes/{photos[0].stem}/{name}")
            finally:
                page.page.close()
    finally:
        moto.stop()


def _synthetic_run(run: Path, photo: Path) -> dict:
    """A large run's results as other versions of seig may write them: parts with
    different columns (no SSIM, an added `degraded` flag, a passthrough column), and one
    unreadable part. No images were rendered: cards say so instead of showing gaps."""
    rng = np.random.default_rng(1)
    (run / "results").mkdir(parents=True)
    n_ok = 1500
    psnr = rng.normal(17, 2, n_ok)
    ok = {"image_id": [f"ok{i:05d}" for i in range(n_ok)], "status": ["ok"] * n_ok,
          "uri": [str(photo) if i % 3 == 0 else f"/nowhere/{i}.jpg" for i in range(n_ok)],
          "initial_psnr": psnr - 0.5, "geometry_psnr": psnr - 0.3, "materials_psnr": psnr - 0.1,
          "lighting_psnr": psnr, "final_psnr": psnr, "time_s": rng.uniform(5, 60, n_ok),
          "geometry_time_s": rng.uniform(1, 9, n_ok), "lat": rng.uniform(-90, 90, n_ok)}
    pq.write_table(pa.table(ok), run / "results" / "part-a.parquet")
    kinds = ["photo_corrupt"] * 300 + ["vlm_budget"] * 100
    failed = {"image_id": [f"bad{i:04d}" for i in range(400)], "status": ["failed"] * 400, "error_kind": kinds,
              "error_message": [f"reason {i}" for i in range(400)], "uri": ["/nowhere/x.jpg"] * 400}
    pq.write_table(pa.table(failed), run / "results" / "part-b.parquet")
    # half as the results contract writes them (status `degraded`, the reason in error_message),
    # half as a flag on an ok row
    deg = {"image_id": [f"deg{i:03d}" for i in range(100)], "status": ["degraded"] * 50 + ["ok"] * 50,
           "degraded": [None] * 50 + [True] * 50, "error_kind": ["vlm_unreachable"] * 50 + [None] * 50,
           "error_message": ["degraded: the VLM failed"] * 50 + [None] * 50,
           "degraded_reason": [None] * 50 + ["vision fallback"] * 50, "final_psnr": rng.normal(12, 1, 100),
           "final_ssim": rng.uniform(0, 1, 100), "uri": ["/nowhere/y.jpg"] * 100}
    pq.write_table(pa.table(deg), run / "results" / "part-c.parquet")
    (run / "results" / "part-d.parquet").write_bytes(b"PAR1 not really parquet")
    best = sorted(zip(ok["final_psnr"].tolist() + deg["final_psnr"].tolist(), ok["image_id"] + deg["image_id"]))
    return {"best": [i for _, i in best[::-1][:5]], "worst": [i for _, i in best[:5]],
            "with_photo": {i for i, u in zip(ok["image_id"], ok["uri"]) if u == str(photo)}}


def test_a_large_run_is_sampled_and_tolerates_changed_columns(browser, tmp_path, photos):
    run = tmp_path / "out" / "big"
    expect = _synthetic_run(run, photos[0])
    opts = ReportOptions(all_below=100, best=5, random=20, per_kind=3, failure_cap=10)
    result = write_report(str(run), None, {}, opts)
    assert result.cards <= 5 + 5 + 20 + 2 * 3
    page = Page(browser, run / "report" / "index.html")
    try:
        assert page.errors == [] and page.remote == []
        cards = page.page.eval_on_selector_all(".card", "els => els.map(e => [e.dataset.id, e.dataset.tags])")
        assert len(cards) == result.cards
        tagged = lambda tag: sorted(i for i, tags in cards if tag in tags.split())  # noqa: E731
        assert tagged("best") == sorted(expect["best"]) and tagged("worst") == sorted(expect["worst"])
        assert len(tagged("random")) == 20
        assert sum(i.startswith("bad") for i in tagged("failure")) == 6  # 3 of each kind
        imgs = page.images()
        assert sorted(i["card"] for i in imgs) == sorted(i for i, _ in cards if i in expect["with_photo"])
        assert all(i["complete"] and i["w"] > 0 for i in imgs)
        assert result.thumbnails_made == len(imgs) > 0  # thumbnails for cards only, never per row
        text = page.page.inner_text("body")
        assert "1,600" in text and "sample of this run's 2,000 images" in text
        assert "part-d.parquet unreadable" in text and "summary.json not found" in text
        heads = page.page.eval_on_selector_all("#failures tr.kind-head", "els => els.map(e => e.innerText)")
        assert "photo_corrupt 300 images" in heads[0] and "vlm_budget 100 images" in heads[1]
        assert page.page.locator("#failures tr.failure").count() == 20  # capped at 10 per kind
        assert page.page.locator(".badge.warn").count() == sum(i.startswith("deg") for i, _ in cards)
        page.page.select_option("#status", "degraded")
        assert all(i.startswith("deg") for i in page.order())
    finally:
        page.page.close()
    again = write_report(str(run), None, {}, opts)
    assert again.thumbnails_made == 0  # made once


def test_bad_input_is_one_line_and_never_fails_a_run(tmp_path, capsys, photos):
    assert main(["report", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no results under" in err
    broken = tmp_path / "broken"
    (broken / "results").mkdir(parents=True)
    (broken / "results" / "part-x.parquet").write_bytes(b"garbage")
    assert main(["report", str(broken)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no readable results part" in err
    assert main(["report", str(broken), "--set", "run.no_such_field=1"]) == 2
    assert "run.no_such_field" in capsys.readouterr().err

    run = tmp_path / "out" / "r"
    _synthetic_run(run, photos[0])
    (run / "report").write_text("a file where the report folder should be")
    assert report_after_run(str(tmp_path / "out"), "r", {}) is None
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("seig run: report not written:")
    assert (run / "report").read_text() == "a file where the report folder should be"  # nothing half-written


def test_thumbnails_are_small_and_keep_label_colours(photos):
    import io

    thumb = Image.open(io.BytesIO(make_thumbnail(photos[0].read_bytes())))
    assert thumb.format == "WEBP" and max(thumb.size) == THUMB_PX and thumb.mode == "RGB"
    depth = Image.fromarray((np.arange(64 * 48).reshape(48, 64) * 20).astype(np.uint16))
    buf = io.BytesIO()
    depth.save(buf, "PNG")
    out = np.asarray(Image.open(io.BytesIO(make_thumbnail(buf.getvalue()))))
    assert out.min() < 10 and out.max() > 245  # a 16-bit map stretched to its own range
    labels = np.zeros((300, 400, 3), np.uint8)
    labels[:, 200:] = (220, 20, 60)
    labels[150:, :200] = (0, 0, 142)
    buf = io.BytesIO()
    Image.fromarray(labels).save(buf, "PNG")
    small = np.asarray(Image.open(io.BytesIO(make_thumbnail(buf.getvalue(), nearest=True))).convert("RGB"))
    colours = {tuple(c) for c in small.reshape(-1, 3)}
    assert colours == {(0, 0, 0), (220, 20, 60), (0, 0, 142)}  # no in-between colour a class does not have
    with pytest.raises(ValueError, match="truncated|corrupt"):
        make_thumbnail(photos[0].read_bytes()[:3000])
    with pytest.raises(ValueError, match="not a recognised image"):
        make_thumbnail(b"hello")


def test_odd_image_ids_are_escaped_and_linked(browser, tmp_path, photos):
    """Ids are untrusted text: markup, quotes, '#', '?', '%' and spaces stay text and links."""
    run = tmp_path / "out" / "odd"
    odd = 'a <b>"x"</b> #1?%20&amp;'
    (run / "results").mkdir(parents=True)
    scene = run / "scenes" / odd
    scene.mkdir(parents=True)
    Image.open(photos[0]).resize((64, 48)).save(scene / "render.png")
    (scene / "scene.py").write_text("# odd\n")
    (scene / "record.json").write_text("{}")
    pq.write_table(pa.table({"image_id": [odd, None], "uri": [str(photos[0]), "x.jpg"], "status": ["ok", "failed"],
                             "error_kind": [None, "manifest"], "final_psnr": [15.0, None],
                             "error_message": [None, "<script>alert(1)</script> image_id is null"]}),
                   run / "results" / "part-0.parquet")
    write_report(str(run))
    page = Page(browser, run / "report" / "index.html")
    try:
        assert page.errors == [] and page.remote == []
        assert page.order() == [odd, ""]
        assert page.page.locator("script").count() == 1  # only the report's own
        assert "<script>alert(1)</script>" in page.page.inner_text("#failures")
        assert all(i["complete"] and i["w"] > 0 for i in page.images()) and len(page.images()) == 2
        for name in ("scene.py", "record.json"):
            href = page.page.locator(".card footer a", has_text=name).first.get_attribute("href")
            assert (run / "report" / unquote(href)).resolve() == (scene / name).resolve()
        assert page.page.inner_text('.card[data-id=""] .nopic') == "no image id"
    finally:
        page.page.close()
