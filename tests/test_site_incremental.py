"""Incremental site builds, for real with sphinx.testing: after a data edit Sphinx
reads again only the pages that show what changed, only those pages change, and
every page is what a fresh build (-E) of the same data gives. (Sphinx writes
again the pages it read, their toctree parents and, after a change of titles or
toctrees, every page; a page written again with the same content is no change.)"""
from __future__ import annotations

import hashlib
from pathlib import Path

from generator.site.pages import OUTPUTS_FOLDER
from tests.conftest import append_row, edit_row
from tests.test_site import build, page, prepare, rootdir, site  # noqa: F401 (rootdir is a fixture)

pytest_plugins = ("sphinx.testing.fixtures",)

# Pages Sphinx itself writes from every page's words; rewritten whenever any page is.
SPHINX_OWN = {"search.html", "genindex.html"}


def site_files(outdir: Path) -> dict[str, tuple[str, int]]:
    """Page or copied output -> (digest of its content, modification time), for every
    file a reader looks at."""
    found = {}
    for path in outdir.rglob("*"):
        name = path.relative_to(outdir).as_posix()
        if path.is_file() and name not in SPHINX_OWN and (name.endswith(".html") or name.startswith(OUTPUTS_FOLDER + "/")):
            found[name] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    return found


def changed(before: dict[str, tuple[str, int]], after: dict[str, tuple[str, int]]) -> set[str]:
    """Files whose content changed, and files gone."""
    return ({name for name in after if before.get(name, ("",))[0] != after[name][0]}
            | {f"{name} (removed)" for name in before if name not in after})


def written(before: dict[str, tuple[str, int]], after: dict[str, tuple[str, int]]) -> set[str]:
    """Files written, whatever their content."""
    return {name for name in after if before.get(name) != after[name]} | {f"{name} (removed)" for name in before if name not in after}


def build_reading(make_app, args, kwargs, **more):
    """A build, and the documents Sphinx read in it (env-before-read-docs names them)."""
    app = make_app(*args, **{**kwargs, **more})
    read: set[str] = set()
    app.connect("env-before-read-docs", lambda app, env, docnames: read.update(docnames))
    app.build()
    return app, read


def write_outputs(folder: Path) -> Path:
    """Stand-ins for the workbooks and Markdown tables of three roles."""
    for role in ("vault", "agent", "catalog"):
        (folder / "xlsx").mkdir(parents=True, exist_ok=True)
        (folder / "xlsx" / f"{role}.xlsx").write_bytes(f"workbook of {role}".encode())
    (folder / "markdown" / "roles").mkdir(parents=True)
    (folder / "markdown" / "roles" / "vault.md").write_text("| flow |\n")
    return folder


def assert_same_as_fresh(make_app, args, kwargs, app, tmp_path: Path, **more) -> None:
    """A fresh build of the same sources and data into another folder gives the same files."""
    fresh = build(make_app, args, kwargs, builddir=tmp_path / "fresh", freshenv=True, **more)
    assert fresh.statuscode == 0
    mine, theirs = Path(app.outdir), Path(fresh.outdir)
    assert set(site_files(mine)) == set(site_files(theirs))
    differ = [name for name in site_files(mine) if (mine / name).read_bytes() != (theirs / name).read_bytes()]
    assert differ == []


def start(app_params, make_app, tmp_path: Path, **more):
    """The test site over the lab data, built once; returns what the next builds need."""
    args, kwargs, srcdir = prepare(app_params)
    outputs = write_outputs(tmp_path / "outputs")
    settings = dict(confoverrides={"portbook_outputs": str(outputs)}, **more)
    app = build(make_app, args, kwargs, **settings)
    assert app.statuscode == 0 and "WARNING" not in app.warning.getvalue(), app.warning.getvalue()
    return args, kwargs, srcdir, outputs, settings, app


@site("edit-one-row")
def test_a_row_edit_reads_and_changes_the_pages_showing_the_row_and_no_other(app_params, make_app, tmp_path):
    args, kwargs, srcdir, outputs, settings, app = start(app_params, make_app, tmp_path)
    out = Path(app.outdir)
    before = site_files(out)
    edit_row(srcdir / "_data" / "lab-backup" / "flows.csv", "id", "catalog-sql", purpose="Catalog reads, writes and vacuum.")
    # As the workbook generator would: one workbook changes, another is written with the same bytes.
    (outputs / "xlsx" / "catalog.xlsx").write_bytes(b"workbook of catalog, edited")
    (outputs / "xlsx" / "agent.xlsx").write_bytes(b"workbook of agent")
    app, read = build_reading(make_app, args, kwargs, **settings)
    # The flow runs from the vault to the catalog; the reference page lists its purpose. The
    # prose page shows its port and the filters page its id and port, which did not change.
    assert read == {"reference", "roles/vault", "roles/catalog"}
    after = site_files(out)
    assert changed(before, after) == {
        "reference.html", "roles/vault.html", "roles/catalog.html", f"{OUTPUTS_FOLDER}/xlsx/catalog.xlsx"}
    # A copied output is replaced only when its bytes change.
    assert f"{OUTPUTS_FOLDER}/xlsx/agent.xlsx" not in written(before, after)
    for name in ("reference.html", "roles/vault.html", "roles/catalog.html"):
        assert "Catalog reads, writes and vacuum." in "".join(page(app, name).text), name
    assert (out / OUTPUTS_FOLDER / "xlsx" / "catalog.xlsx").read_bytes() == b"workbook of catalog, edited"
    assert "3 changed" in app.status.getvalue()  # read again: the two role pages and the reference
    assert_same_as_fresh(make_app, args, kwargs, app, tmp_path, **settings)


@site("parallel-edit")
def test_parallel_builds_record_what_each_page_shows(app_params, make_app, tmp_path):
    args, kwargs, srcdir, outputs, settings, app = start(app_params, make_app, tmp_path, parallel=2)
    out = Path(app.outdir)
    before = site_files(out)
    edit_row(srcdir / "_data" / "lab-monitor" / "flows.csv", "id", "monitor-trap", purpose="Agents push alerts and heartbeats.")
    app, read = build_reading(make_app, args, kwargs, **settings)
    assert read == {"reference", "monitor", "roles/agent", "roles/monitor"}
    assert changed(before, site_files(out)) == {"reference.html", "monitor.html", "roles/agent.html", "roles/monitor.html"}
    # The fresh build runs serially: parallel reading and writing give the same pages.
    serial = {name: value for name, value in settings.items() if name != "parallel"}
    assert_same_as_fresh(make_app, args, kwargs, app, tmp_path, **serial)


@site("add-role")
def test_a_new_role_changes_the_pages_listing_roles(app_params, make_app, tmp_path):
    args, kwargs, srcdir, outputs, settings, app = start(app_params, make_app, tmp_path)
    out = Path(app.outdir)
    before = site_files(out)
    data = srcdir / "_data" / "lab-monitor"
    append_row(data / "roles.csv", id="relay", name="Alert relay", description="Forwards alerts.")
    append_row(data / "flows.csv", id="relay-forward", transport="tcp", port="9163", source="monitor",
               destination="relay", direction="one-way", purpose="Alerts forwarded on.", reference="overview")
    app, read = build_reading(make_app, args, kwargs, **settings)
    differ = changed(before, site_files(out))
    # The role lists (all roles, and the new role's dataset), the counts on the front page,
    # the tables and the diagram that show the new flow.
    for name in ("roles.html", "roles/datasets/lab-monitor.html", "roles/relay.html", "index.html", "reference.html",
                 "monitor.html", "diagram.html", "roles/monitor.html"):
        assert name in differ, name
    for name in ("plain.html", "schema.html", "errata.html", "prose.html", "roles/agent.html", "roles/catalog.html"):
        assert name not in differ, name
        assert name.removesuffix(".html") not in read, name
    assert "Alert relay" in "".join(page(app, "roles.html").text)
    assert_same_as_fresh(make_app, args, kwargs, app, tmp_path, **settings)


@site("rename-role")
def test_a_renamed_role_leaves_no_page_with_the_old_name(app_params, make_app, tmp_path):
    args, kwargs, srcdir, outputs, settings, app = start(app_params, make_app, tmp_path)
    out = Path(app.outdir)
    before = site_files(out)
    edit_row(srcdir / "_data" / "lab-backup" / "roles.csv", "id", "catalog", name="Catalog store")
    app, read = build_reading(make_app, args, kwargs, **settings)
    differ = changed(before, site_files(out))
    holding = set()
    for name in site_files(out):
        if name.endswith(".html"):
            text = (out / name).read_text(encoding="utf-8")
            assert "Catalog database" not in text, name
            if "Catalog store" in text:
                holding.add(name)
    # Titles reach other pages through toctrees and next/previous links, all rewritten; the
    # diagram shows the name in a new image.
    assert {"roles/catalog.html", "roles.html", "roles/datasets/lab-backup.html", "roles/agent.html"} <= holding <= differ
    assert differ - holding <= {"diagram.html"}
    assert "plain.html" not in differ and "plain" not in read
    assert_same_as_fresh(make_app, args, kwargs, app, tmp_path, **settings)


@site("outputs-go")
def test_outputs_that_go_away_leave_the_site_and_their_links(app_params, make_app, tmp_path):
    args, kwargs, srcdir, outputs, settings, app = start(app_params, make_app, tmp_path)
    out = Path(app.outdir)
    assert (out / OUTPUTS_FOLDER / "markdown" / "roles" / "vault.md").is_file()
    before = site_files(out)
    (outputs / "markdown" / "roles" / "vault.md").unlink()
    app, read = build_reading(make_app, args, kwargs, **settings)
    assert read == {"roles/vault"}
    assert changed(before, site_files(out)) == {"roles/vault.html", f"{OUTPUTS_FOLDER}/markdown/roles/vault.md (removed)"}
    assert not (out / OUTPUTS_FOLDER / "markdown").exists()
    hrefs = [a["href"] for t, a in page(app, "roles/vault.html").tags if t == "a" and "download" in a.get("class", "")]
    assert hrefs == [f"../{OUTPUTS_FOLDER}/xlsx/vault.xlsx"]
    assert_same_as_fresh(make_app, args, kwargs, app, tmp_path, **settings)


@site("nothing")
def test_a_build_with_nothing_changed_writes_no_page(app_params, make_app, tmp_path):
    args, kwargs, srcdir, outputs, settings, app = start(app_params, make_app, tmp_path)
    out = Path(app.outdir)
    before = site_files(out)
    # New times, same bytes: neither the data nor the outputs changed.
    for path in [*(srcdir / "_data").rglob("*.csv"), *outputs.rglob("*.*")]:
        path.write_bytes(path.read_bytes())
    app, read = build_reading(make_app, args, kwargs, **settings)
    assert read == set()
    assert written(before, site_files(out)) == set()
    assert "0 changed" in app.status.getvalue()


@site("search-after-edit")
def test_every_port_stays_findable_after_an_incremental_build(app_params, make_app, tmp_path):
    """Sphinx's search index keeps the index entries of the pages its last build wrote
    only; the ports file the search page reads is written from the whole data every build,
    so after an edit every page's ports are still found, as after a fresh build."""
    args, kwargs, srcdir, outputs, settings, app = start(app_params, make_app, tmp_path)
    ports_file = Path(app.outdir) / "_static" / "portbook-port-ranges.js"
    fresh_ports = ports_file.read_text(encoding="utf-8")
    edit_row(srcdir / "_data" / "lab-backup" / "flows.csv", "id", "catalog-sql", purpose="Catalog reads, writes and reindexing.")
    app, read = build_reading(make_app, args, kwargs, **settings)
    assert read == {"reference", "roles/vault", "roles/catalog"}
    assert ports_file.read_text(encoding="utf-8") == fresh_ports
    listed = {record.split(",")[3] for record in fresh_ports.split("],[")}
    assert {'"roles/vault"', '"roles/catalog"', '"roles/agent"'} <= listed


def test_the_site_takes_the_model_the_build_loaded_until_the_data_changes(data_dir: Path):
    # `build` of the formats and the site in one process loads the data once.
    from sphinx.config import Config

    from generator.pipeline import fingerprint, load_and_check
    from generator.site import data as site_data

    config = Config({"portbook_data": str(data_dir)})
    config.add("portbook_data", "", "env", ())
    key = fingerprint(data_dir.resolve())
    checked = load_and_check(data_dir)
    site_data.keep(data_dir, key, checked)
    assert site_data.load(config) is checked
    edit_row(data_dir / "dpm-2012r2/flows.csv", "id", "sql-engine-default", purpose="Edited after the build loaded it.")
    reloaded = site_data.load(config)
    assert reloaded is not checked
    assert reloaded.model.flow_by_id["sql-engine-default"].purpose == "Edited after the build loaded it."
