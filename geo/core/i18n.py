"""User-interface strings in Chinese (the default) and English.

Every string the app shows goes through :func:`t` or one of the label
helpers, so a page never carries text of its own. Layer, facility, status
and field names are not repeated here: they come from :mod:`geo.core.schema`,
which is their single source.

This module is plain Python and never imports streamlit, so the map builder
and the tests can use it outside the app.
"""
from __future__ import annotations

from geo.core import schema

#: Supported UI languages; the first is the default.
LANGS: tuple[str, ...] = ("zh", "en")

#: How each language names itself in the language switch.
LANG_NAMES: dict[str, str] = {"zh": "中文", "en": "English"}

# Each entry is (Chinese, English). Placeholders use str.format syntax.
_STRINGS: dict[str, tuple[str, str]] = {
    # -- app shell ---------------------------------------------------------
    "app_title": ("广东职工服务地图", "Guangdong Worker Service Map"),
    "app_subtitle": ("户外劳动者驿站 · 司机之家 · 工会法律服务站点",
                     "Rest stations · Driver homes · Union legal-aid points"),
    "language": ("语言 / Language", "语言 / Language"),
    "store_error": ("无法打开站点库：{error}", "Cannot open the station registry: {error}"),
    # Shown in both languages at once (the language choice may be what failed); details go to the server log.
    "script_error": ("出错了：这一页暂时无法完整显示。请刷新页面或稍后再试；详细原因已记录在服务器日志中。",
                     "Something went wrong: this page cannot be shown in full right now. Reload it or try "
                     "again later; the details are in the server log."),
    "sample_banner": ("示例数据 / sample data：当前显示的部分站点是生成的示例，并非真实站点，请勿据此前往。",
                      "示例数据 / sample data: some of the stations shown are generated examples, "
                      "not real places; do not travel to them."),
    # -- map page ----------------------------------------------------------
    "filters": ("筛选", "Filters"),
    "filter_kinds": ("图层", "Layers"),
    "filter_status": ("状态", "Status"),
    "filter_city": ("城市", "City"),
    "filter_city_all": ("全部城市", "All cities"),
    "basemap": ("底图", "Basemap"),
    "basemap_osm": ("OpenStreetMap 标准", "OpenStreetMap standard"),
    "basemap_carto": ("CARTO 浅色", "CARTO light"),
    "basemap_amap": ("高德地图", "Amap (高德)"),
    "basemap_amap_note": ("高德底图使用 GCJ-02 坐标：站点、路线和区域在显示时已相应偏移，数据本身仍为 WGS-84。",
                          "Amap tiles use GCJ-02: stations, routes and areas are shifted to match when drawn; "
                          "the data stay in WGS-84."),
    "map_locate": ("显示我的位置（仅在本机浏览器内，不会上传）",
                   "Show my location (stays in this browser, never sent)"),
    "map_locating": ("正在定位…", "Finding your location…"),
    "map_locate_failed": ("无法获取位置：请允许浏览器定位，或在室外重试。",
                          "Location unavailable: allow location access in the browser, or try outdoors."),
    "map_full_screen": ("全屏 / 退出全屏", "Full screen / exit full screen"),
    "map_offline": ("底图无法加载（可能离线）：仅显示站点和边界。",
                    "Basemap unreachable (offline?): showing stations and boundaries only."),
    "map_popup_loading": ("正在加载详情…", "Loading details…"),
    "map_popup_failed": ("暂时无法加载详情，请稍后再试。", "Details could not be loaded; please try again."),
    "shown_count": ("显示 {shown} 个站点（站点库共 {total} 个）",
                    "Showing {shown} of {total} stations in the registry"),
    "no_stations": ("没有符合筛选条件的站点。", "No station matches the filters."),
    "offline_note": ("离线时底图不显示，站点和行政边界照常显示。",
                     "Offline the basemap tiles do not load; stations and boundaries still show."),
    # -- map: legend, popups, tooltips ---------------------------------------
    "legend_title": ("图例", "Legend"),
    "legend_route": ("所选站点的步行/骑行/驾车路线", "Route to the chosen station"),
    "legend_numbered": ("编号：由近到远的结果", "Numbers: results, nearest first"),
    "legend_inactive": ("暂停开放 / 已关闭 / 规划中（半透明）",
                        "Temporarily closed / closed / planned (faded)"),
    "legend_sample": ("虚线框：示例数据", "Dashed ring: sample data"),
    "legend_cluster": ("数字圆圈：附近多个站点，点击放大", "Numbered circle: several stations, click to zoom"),
    "popup_address": ("地址", "Address"),
    "popup_hours": ("开放时间", "Opening hours"),
    "popup_open_now": ("现在", "Now"),
    "open_now_yes": ("开放中", "Open now"),
    "open_now_no": ("未开放", "Closed now"),
    "open_now_unknown": ("开放状态未知", "Unknown"),
    "popup_status": ("状态", "Status"),
    "popup_facilities": ("设施", "Facilities"),
    "popup_phone": ("电话", "Phone"),
    "popup_operator": ("运营单位", "Operator"),
    "popup_lawyer_hours": ("律师值班", "Lawyer on duty"),
    "popup_truck_spaces": ("货车车位", "Truck parking spaces"),
    "popup_verified": ("核实日期", "Verified on"),
    "popup_source": ("来源", "Source"),
    "popup_id": ("编号", "ID"),
    "sample_tag": ("示例数据 / sample data", "示例数据 / sample data"),
    "boundaries": ("行政边界", "Boundaries"),
    # -- data page: import -------------------------------------------------
    "data_title": ("数据管理", "Data"),
    "data_intro": ("导入站点表格、检查数据质量、写入站点库，并下载导出文件。",
                   "Import station tables, check them, commit them to the registry and download exports."),
    "import_header": ("导入", "Import"),
    "upload_label": ("上传文件（CSV、Excel、GeoJSON、GeoPackage、Shapefile 压缩包）",
                     "Upload a file (CSV, Excel, GeoJSON, GeoPackage, zipped Shapefile)"),
    "import_kind": ("导入到图层", "Import into layer"),
    "import_kind_auto": ("自动（按每行的类型列或名称）", "Automatic (each row's type column or name)"),
    "import_crs": ("坐标系", "Coordinate system"),
    "crs_auto": ("自动识别", "Detect automatically"),
    "crs_wgs84": ("WGS-84（GPS、天地图、OpenStreetMap）", "WGS-84 (GPS, Tianditu, OpenStreetMap)"),
    "crs_gcj02": ("GCJ-02（高德、腾讯）", "GCJ-02 (Amap, Tencent)"),
    "crs_bd09": ("BD-09（百度）", "BD-09 (Baidu)"),
    "source_name": ("数据来源名称", "Source name"),
    "source_help": ("写入站点库时记录的来源，例如“广州市总工会 2025年6月”。",
                    "Recorded with every station, e.g. “Guangzhou FTU, June 2025”."),
    "read_error": ("无法读取文件：{error}", "Cannot read the file: {error}"),
    "read_info": ("已读取 {rows} 行、{cols} 列（格式 {format}{encoding}）",
                  "Read {rows} rows and {cols} columns (format {format}{encoding})"),
    "raw_preview": ("原始表格预览（前 {n} 行）", "Raw table preview (first {n} rows)"),
    "mapping_header": ("表头对应", "Column mapping"),
    "mapping_help": ("系统已按表头猜测每个字段对应的列，可逐项修改。",
                     "Each field's column was guessed from the headers; change any of them here."),
    "mapping_none": ("（不导入）", "(not imported)"),
    "mapping_lonlat": ("经纬度（同一列）", "Longitude, latitude (one column)"),
    "mapping_extra": ("其他信息（原文保留）", "Extra information (kept as text)"),
    "field_coord_system": ("坐标系", "Coordinate system"),
    "report_header": ("检查结果", "Validation report"),
    "report_rows": ("读取行数", "Rows read"),
    "report_accepted": ("通过", "Accepted"),
    "report_rejected": ("拒绝", "Rejected"),
    "report_warnings": ("警告", "Warnings"),
    "report_crs": ("使用的坐标系：{crs}。{note}", "Coordinate system used: {crs}. {note}"),
    "rejects_header": ("被拒绝的行", "Rejected rows"),
    "warnings_header": ("警告", "Warnings"),
    "accepted_header": ("通过的站点（预览）", "Accepted stations (preview)"),
    "preview_map": ("通过检查的站点在地图上的位置：请核对它们是否落在正确的地方（坐标系选错时会整体偏移约 500 米）。",
                    "Where the accepted stations fall: check they are in the right place "
                    "(a wrong coordinate system shifts them all by about 500 m)."),
    "download_rejects": ("下载被拒绝的行（CSV）", "Download rejected rows (CSV)"),
    "commit_button": ("写入站点库", "Commit to registry"),
    "commit_done": ("已写入：新增 {inserted} 个，更新 {updated} 个，未变 {unchanged} 个。",
                    "Committed: {inserted} new, {updated} updated, {unchanged} unchanged."),
    "commit_error": ("写入失败：{error}", "Commit failed: {error}"),
    "import_log_header": ("导入记录", "Import log"),
    "sample_remove_header": ("清除示例数据（{n} 个示例站点）", "Remove sample data ({n} sample stations)"),
    "sample_remove_help": ("示例数据是生成的，不是真实站点。导入本单位的真实数据后，可在此一次清除全部示例站点；真实站点不受影响。",
                           "The sample stations are generated, not real. Once your own data is imported, "
                           "remove all of them here; real stations are not touched."),
    "sample_remove_confirm": ("确认清除 {n} 个示例站点", "Yes, remove the {n} sample stations"),
    "sample_remove_button": ("清除示例数据", "Remove sample data"),
    "sample_removed": ("已清除 {n} 个示例站点。", "Removed {n} sample stations."),
    # -- data page: downloads ----------------------------------------------
    "downloads_header": ("下载", "Downloads"),
    "downloads_help": ("按图层、城市和状态筛选后下载整个站点库。GCJ-02 版本用于高德等国内地图系统。",
                       "Download the registry filtered by layer, city and status. "
                       "The GCJ-02 file is for Amap and other Chinese map systems."),
    "download_count": ("符合条件的站点：{n} 个", "Matching stations: {n}"),
    "download_geojson": ("GeoJSON（WGS-84）", "GeoJSON (WGS-84)"),
    "download_gpkg": ("GeoPackage（WGS-84）", "GeoPackage (WGS-84)"),
    "download_csv": ("CSV（WGS-84）", "CSV (WGS-84)"),
    "download_geojson_gcj": ("GeoJSON（GCJ-02，高德）", "GeoJSON (GCJ-02, Amap)"),
    # -- data page: editor -------------------------------------------------
    "editor_header": ("编辑站点", "Edit a station"),
    "editor_search": ("按名称或编号查找", "Find by name or ID"),
    "editor_pick": ("选择站点", "Station"),
    "editor_none": ("没有找到站点。", "No station found."),
    "editor_save": ("保存修改", "Save changes"),
    "editor_mark_closed": ("标记为已关闭", "Mark as closed"),
    "editor_saved": ("已保存（版本 {version}）。", "Saved (version {version})."),
    "editor_unchanged": ("没有修改。", "Nothing changed."),
    "editor_error": ("无法保存：{error}", "Cannot save: {error}"),
    "editor_facilities_help": ("多个设施用分号分隔", "Separate several with semicolons"),
    "editor_readonly": ("编号 {id} · 版本 {version} · 更新于 {updated}",
                        "ID {id} · version {version} · updated {updated}"),
    # -- data page: editor accounts (geo/registry/auth.py) ----------------------------
    "auth_login_header": ("🔒 编辑人员登录", "🔒 Editor login"),
    "auth_login_help": ("查看和下载公开数据无需登录；导入、编辑和恢复站点需要编辑账户。",
                        "Viewing and downloading public data needs no login; importing, editing and "
                        "restoring stations need an editor account."),
    "auth_username": ("用户名", "User name"),
    "auth_password": ("密码", "Password"),
    "auth_login_button": ("登录", "Log in"),
    "auth_logout": ("退出登录", "Log out"),
    "auth_signed_in": ("已登录：{user}（修改记录会记下这个用户名）",
                       "Logged in as {user} (the audit log records this name)"),
    "auth_no_accounts": ("尚未设置编辑账户，导入和编辑已锁定。请在服务器上运行 "
                         "`python -m geo user add 用户名` 创建第一个账户。",
                         "No editor account is set up yet, so importing and editing are locked. "
                         "On the server, run `python -m geo user add NAME` to create the first one."),
    "auth_accounts_error": ("编辑账户文件无法使用（例如含有明文密码），导入和编辑已锁定。"
                            "请在服务器上运行 `python -m geo user list` 查看原因。",
                            "The editor accounts cannot be used (a plain-text password, for example), so "
                            "importing and editing are locked. Run `python -m geo user list` on the server "
                            "to see why."),
    "auth_needed_import": ("导入站点文件需要编辑人员登录（见本页上方）。",
                           "Importing a file needs an editor login (top of this page)."),
    "auth_needed_edit": ("编辑站点需要编辑人员登录（见本页上方）。下面是站点库的公开内容。",
                         "Editing needs an editor login (top of this page). Below is the public content "
                         "of the registry."),
    "auth_logged_out": ("已退出登录。", "Logged out."),
    # -- data page: removed and closed stations (geo/registry/audit.py) ---------------
    "removed_header": ("已删除或已关闭的站点", "Removed and closed stations"),
    "removed_help": ("删除的站点只留在修改记录里；在这里找到它并恢复。已关闭的站点可以重新启用。",
                     "A removed station is only in the audit log: find it here and bring it back. "
                     "A closed station can be reopened."),
    "removed_search": ("在已删除或已关闭的站点中查找（名称或编号）", "Find a removed or closed station (name or ID)"),
    "removed_none": ("没有已删除或已关闭的站点。", "No removed or closed station."),
    "removed_pick": ("选择站点", "Station"),
    "removed_option_removed": ("{name} · {kind} · 已删除（{at}，{editor}） · {id}",
                               "{name} · {kind} · removed ({at}, {editor}) · {id}"),
    "removed_option_closed": ("{name} · {kind} · 已关闭 · {id}", "{name} · {kind} · closed · {id}"),
    "removed_confirm": ("确认恢复这个站点（作为新版本保存，修改记录保留）",
                        "Restore this station (saved as a new version; the history is kept)"),
    "removed_restore": ("恢复站点", "Restore station"),
    "removed_reopen": ("重新启用（状态改为「{status}」）", "Reopen (status back to \"{status}\")"),
    "removed_restored": ("已恢复站点 {id}（版本 {version}）。", "Restored station {id} (version {version})."),
    # -- finder page ---------------------------------------------------------
    "finder_link": ("找离我最近的站", "Find the nearest station"),
    "finder_title": ("找最近的站", "Find the nearest station"),
    "fd_intro": ("先告诉我们你在哪里：用定位、搜地名或站名、粘贴坐标，或在地图上点一下。",
                 "First say where you are: use your location, search a place or station, "
                 "paste coordinates, or tap the map."),
    "fd_locate": ("📍 用我的位置", "📍 Use my location"),
    "fd_locating": ("正在定位…", "Locating…"),
    "fd_locate_failed": ("无法获取位置：{error}。请在浏览器里允许使用位置，或搜索地名、在地图上点一下。",
                         "Could not get your location: {error}. Allow location in the browser, "
                         "or search a place, or tap the map."),
    "fd_locate_insecure": ("浏览器只在 HTTPS 网页上提供定位；请搜索地名或在地图上点一下。",
                           "Browsers only share your location with HTTPS pages; search a place or tap the map."),
    "fd_locate_unsupported": ("这个浏览器不支持定位。", "This browser cannot share a location."),
    "fd_place_gps": ("我的位置（精度约 {acc} 米）", "My location (within about {acc} m)"),
    "fd_place_map": ("地图上选的点", "Point picked on the map"),
    "fd_place_coords": ("粘贴的坐标", "Pasted coordinates"),
    "fd_search": ("搜索地名、站名，或粘贴坐标", "Search a place or station, or paste coordinates"),
    "fd_search_placeholder": ("🔎 搜地名、站名或粘贴坐标，如 体育西、南山区、113.26,23.13",
                              "🔎 Place, station or coordinates, e.g. 体育西, 南山区, 113.26,23.13"),
    "fd_search_none": ("没有找到“{q}”。试试区名（如 南山区）或站名的一部分。",
                       "Nothing found for “{q}”. Try a district (e.g. 南山区) or part of a station name."),
    "fd_search_pick": ("点一个结果作为起点：", "Tap a result to start from it:"),
    "fd_place_station": ("站点", "Station"),
    "fd_place_district": ("区县", "District"),
    "fd_place_city": ("城市", "City"),
    "fd_coords_crs": ("这个坐标来自", "These coordinates come from"),
    "fd_crs_gcj02": ("高德/腾讯 GCJ-02", "Amap/Tencent GCJ-02"),
    "fd_crs_bd09": ("百度 BD-09", "Baidu BD-09"),
    "fd_crs_wgs84": ("GPS WGS-84", "GPS WGS-84"),
    "fd_coords_use": ("用这个坐标作起点", "Start from these coordinates"),
    "fd_coords_swapped": ("输入的是“纬度,经度”，已自动调换。", "You gave latitude first; the pair was turned round."),
    "fd_filters": ("筛选：{summary}", "Filters: {summary}"),
    "fd_kind": ("站点类型", "Kind of station"),
    "fd_kind_all": ("全部", "All"),
    "fd_facilities": ("需要的设施（可多选）", "Facilities you need (any number)"),
    "fd_open_now": ("只看现在开放的", "Open now only"),
    "fd_mode": ("出行方式", "Travel mode"),
    "fd_mode_walk": ("步行", "Walk"),
    "fd_mode_ebike": ("电动车", "E-bike"),
    "fd_mode_drive": ("驾车", "Drive"),
    "fd_mode_truck": ("货车", "Truck"),
    "fd_by": ("排序", "Rank by"),
    "fd_by_time": ("⏱ 用时最短", "⏱ Fastest"),
    "fd_by_distance": ("📏 路程最短", "📏 Shortest"),
    "fd_n_facilities": ("{n} 项设施", "facilities: {n}"),
    "fd_origin": ("起点：{place}", "From: {place}"),
    "fd_no_origin": ("还没有起点。", "No starting point yet."),
    "fd_results": ("最近的站", "Nearest stations"),
    "fd_no_results": ("附近没有符合条件的站点。可以减少设施要求，或关闭“只看现在开放的”。",
                      "No matching station nearby. Ask for fewer facilities, or turn off “Open now only”."),
    "fd_minutes": ("{n} 分钟", "{n} min"),
    "fd_via": ("经", "Via"),
    "fd_hours_unknown": ("开放时间未知", "Hours unknown"),
    "fd_show_route": ("看路线", "Show route"),
    "fd_show_on_map": ("在地图上看", "Show on map"),
    "fd_amap": ("高德地图", "Amap"),
    "fd_baidu": ("百度地图", "Baidu Maps"),
    "fd_apple": ("Apple 地图", "Apple Maps"),
    "fd_estimate_banner": ("估算 / estimate：未加载{mode}路网，距离和时间按直线距离 × {factor} 估算，"
                           "地图上不画路线，实际路程可能更远。",
                           "估算 / estimate: no {mode} road network is loaded, so distances and times are "
                           "straight-line distance × {factor}; no route is drawn and the real trip may be longer."),
    "fd_network_help": ("管理员可离线生成路网：`python -m geo network build guangdong-latest.osm.pbf --out {dir}`",
                        "An administrator can build the road network offline: "
                        "`python -m geo network build guangdong-latest.osm.pbf --out {dir}`"),
    "fd_network_error": ("路网文件无法读取（{error}），以下为估算。", "The road network cannot be read ({error}); "
                         "the results below are estimates."),
    "fd_network_ok": ("按 OpenStreetMap 路网计算{mode}路线", "routes follow the OpenStreetMap road network ({mode})"),
    "fd_map_estimate": ("估算 / estimate：未画路线", "估算 / estimate: no route drawn"),
    "fd_map_hint": ("点地图设为起点", "Tap the map to set where you are"),
    "fd_map_caption": ("在地图上点一下可换起点", "tap the map to start elsewhere"),
    "fd_origin_tip": ("起点", "You are here"),
    "fd_start": ("起点", "Start"),
    "fd_route_tip": ("沿道路的路线", "Route along the roads"),
    "fd_share": ("这个网页的地址包含起点和筛选条件，复制地址即可分享或稍后再打开。",
                 "This page's address holds the starting point and filters: copy it to share or reopen."),
    # -- coverage page (planners) ---------------------------------------------
    "cv_title": ("服务覆盖分析", "Service coverage"),
    "cv_intro": ("哪些地方的劳动者离最近的站点太远？按区县查看覆盖率、缺口和出行时间分布。",
                 "Where are workers too far from the nearest station? Coverage, gaps and travel, "
                 "district by district."),
    "cv_region": ("区域", "Region"),
    "cv_city": ("城市", "City"),
    "cv_province": ("广东省（全省）", "Guangdong (whole province)"),
    "cv_district": ("区县（可选）", "District (optional)"),
    "cv_whole_city": ("全市", "Whole city"),
    "cv_kinds": ("计入的站点类型", "Kinds of station that serve"),
    "cv_no_kinds": ("请至少选择一种站点类型。", "Choose at least one kind of station."),
    "cv_standard": ("服务标准", "Service standard"),
    "cv_mode": ("出行方式", "Travel mode"),
    "cv_unit": ("标准单位", "Measured in"),
    "cv_unit_choice_min": ("分钟（用时）", "Minutes (time)"),
    "cv_unit_choice_m": ("米（路程）", "Metres (distance)"),
    "cv_minutes": ("最长用时（分钟）", "Longest trip (minutes)"),
    "cv_meters": ("最长路程（米）", "Longest trip (metres)"),
    "cv_standard_default": ("默认标准（settings.py）：{standard}", "Default standard (settings.py): {standard}"),
    "cv_statuses_note": ("只计开放中的站点；站点在区域外也算（劳动者会跨界）。",
                         "Only open stations count; stations outside the region serve it too (workers cross borders)."),
    "cv_grid": ("格网与需求", "Grid and demand"),
    "cv_res": ("H3 格网分辨率", "H3 grid resolution"),
    "cv_res_option": ("{res}（每格约 {km2} km²）", "{res} (cells of ~{km2} km²)"),
    "cv_res_help": ("越细越准，但全省 9 级约 177 万个格网，计算需要更久。",
                    "Finer is more precise; the province at 9 is ~1.77 million cells and takes longer."),
    "cv_weighting": ("覆盖率按什么计", "Weight the coverage by"),
    "cv_weighting_area": ("面积", "Area"),
    "cv_weighting_population": ("人口（区县人口表）", "Population (county table)"),
    "cv_weighting_points": ("需求点（上传）", "Demand points (upload)"),
    "cv_population_source": ("人口数据", "Population data"),
    "cv_population_census": ("第七次人口普查（shared/data）", "7th census (shared/data)"),
    "cv_population_upload_choice": ("上传区县人口表", "Upload a county table"),
    "cv_population_upload": ("区县人口表（CSV/Excel：区划代码、人口数）",
                             "County population table (CSV/Excel: adcode, population)"),
    "cv_census_missing": ("未找到普查人口表，请上传区县人口表（需要“区划代码”和“人口数_合计”或“population”列）。",
                          "The census table is not available: upload a county table (columns 区划代码/adcode and "
                          "人口数_合计/population)."),
    "cv_population_wait": ("请上传人口表；在此之前按面积计算。", "Upload a population table; until then coverage is by area."),
    "cv_points_upload": ("需求点（CSV、Excel、GeoJSON、GeoPackage、Shapefile 压缩包）",
                         "Demand points (CSV, Excel, GeoJSON, GeoPackage, zipped Shapefile)"),
    "cv_points_crs": ("需求点坐标系", "Coordinate system of the points"),
    "cv_points_weight": ("权重列", "Weight column"),
    "cv_points_weight_auto": ("自动（weight、人数… 否则每点 1）", "Automatic (weight, 人数 … else 1 per point)"),
    "cv_points_wait": ("请上传需求点文件；在此之前按面积计算。", "Upload a demand-point file; until then coverage is by area."),
    "cv_input_error": ("无法读取上传的文件：{error}。本次按面积计算。",
                       "Cannot read the uploaded file: {error}. Coverage is by area this time."),
    "cv_running": ("正在计算 {region} 的覆盖…", "Computing coverage of {region}…"),
    "cv_error": ("无法完成覆盖分析：{error}", "Coverage could not be computed: {error}"),
    "cv_standard_line": ("服务标准：{standard}", "Standard: {standard}"),
    "cv_fig_share_area": ("面积覆盖率", "Covered by area"),
    "cv_fig_share_demand": ("需求覆盖率（{kind}）", "Covered by demand ({kind})"),
    "cv_demand_area": ("面积", "area"),
    "cv_demand_population": ("人口", "population"),
    "cv_demand_raster": ("人口栅格", "population raster"),
    "cv_demand_points": ("需求点", "demand points"),
    "cv_fig_cells": ("格网", "Cells"),
    "cv_fig_cells_value": ("{n} · H3 {res} 级", "{n} · H3 res {res}"),
    "cv_fig_stations": ("站点（区内 / 计入）", "Stations (in region / serving)"),
    "cv_fig_method": ("计算方法", "Method"),
    "cv_fig_estimated": ("估算的格网", "Cells estimated"),
    "cv_method_mixed": ("路网 + 估算 / estimate", "Road network + 估算 / estimate"),
    "cv_fig_gaps": ("缺口", "Gaps"),
    "cv_fig_help_share": ("格网中心到最近开放站点在标准之内的比例。", "Share whose centre is within the standard of "
                          "the nearest open station."),
    "cv_fig_help_estimated": ("离路网超过 {km} 千米或没有路网的格网，按直线距离 × {factor} 估算。",
                              "Cells over {km} km from the road network, or with no network, estimated as "
                              "straight-line distance × {factor}."),
    "cv_estimate_banner": ("估算 / estimate：未加载{mode}路网，出行用时和路程按直线距离 × {factor} 估算，实际可能更远。",
                           "估算 / estimate: no {mode} road network is loaded, so travel is straight-line distance "
                           "× {factor}; real trips may be longer."),
    "cv_partial_network": ("估算 / estimate：{n} 个格网（共 {total} 个）离{mode}路网超过 {km} 千米，按直线距离 × {factor} 估算；"
                           "其余按路网计算。",
                           "估算 / estimate: {n} of {total} cells lie over {km} km from the {mode} road network and "
                           "are estimated (straight line × {factor}); the rest follow the roads."),
    "cv_unreachable_banner": ("{n} 个格网到不了任何站点（离路网过远或没有站点），计为未覆盖。",
                              "{n} cells cannot reach any station (too far from the roads, or no station) and "
                              "count as not covered."),
    "cv_network_used": ("按 OpenStreetMap {mode}路网计算。", "Computed on the OpenStreetMap {mode} road network."),
    "cv_map_caption": ("颜色表示到最近站点的{what}；虚线框为缺口（连片未覆盖区域）；悬停可查看区县和面积。",
                       "Colours show the {what} to the nearest station; dashed outlines are gaps (connected "
                       "uncovered areas); hover for the district and area."),
    "cv_what_time": ("用时", "travel time"),
    "cv_what_distance": ("路程", "distance"),
    "cv_downloads": ("下载", "Downloads"),
    "cv_dl_gaps_geojson": ("缺口 GeoJSON", "Gaps GeoJSON"),
    "cv_dl_cells_csv": ("格网 CSV", "Cells CSV"),
    "cv_dl_cells_geojson": ("格网 GeoJSON", "Cells GeoJSON"),
    "cv_dl_districts_csv": ("区县表 CSV", "District table CSV"),
    "cv_dl_report_html": ("打印报告（HTML）", "Printable report (HTML)"),
    "cv_dl_cells_help": ("{n} 个格网，文件可能较大。", "{n} cells; the file may be large."),
    "cv_districts": ("分区县", "By district"),
    "cv_districts_help": ("点列名排序。", "Click a column name to sort."),
    "cv_gaps": ("最大的缺口（前 {n} 个，共 {total} 个）", "Largest gaps ({n} of {total})"),
    "cv_notes": ("说明与计算时间", "Notes and timings"),
    "cv_timings": ("计算用时：{seconds} 秒（网格 {grid} 秒）", "Computed in {seconds} s (grid {grid} s)"),
    "cv_col_name": ("区县", "District"),
    "cv_col_city": ("城市", "City"),
    "cv_col_stations": ("区内站点", "Stations"),
    "cv_col_population": ("人口", "Population"),
    "cv_col_per_100k": ("每10万人站点", "Per 100k people"),
    "cv_col_share_area": ("面积覆盖率", "Covered (area)"),
    "cv_col_share_demand": ("需求覆盖率", "Covered (demand)"),
    "cv_col_travel_mean": ("平均（{unit}）", "Mean ({unit})"),
    "cv_col_travel_p95": ("P95（{unit}）", "P95 ({unit})"),
    "cv_col_gap_km2": ("最大缺口 km²", "Largest gap km²"),
    "cv_col_unreachable": ("无法到达格网", "Unreachable cells"),
    "cv_col_cells": ("格网数", "Cells"),
    "cv_col_area": ("面积 km²", "Area km²"),
    "cv_col_adcode": ("区划代码", "Adcode"),
    "cv_col_gap": ("缺口", "Gap"),
    "cv_col_demand": ("需求（{unit}）", "Demand ({unit})"),
    "cv_col_station_km": ("距最近站点 km", "To nearest station km"),
    "cv_col_lat": ("纬度", "Latitude"),
    "cv_col_lon": ("经度", "Longitude"),
    "cv_unit_min": ("分钟", "min"),
    "cv_unit_m": ("米", "m"),
    "cv_band_le": ("≤{b} {unit}", "≤{b} {unit}"),
    "cv_band_range": ("{a}–{b} {unit}", "{a}–{b} {unit}"),
    "cv_band_gt": (">{a} {unit}", ">{a} {unit}"),
    "cv_band_unreachable": ("无法到达", "Unreachable"),
    "cv_legend_title_time": ("到最近站点的用时", "Travel time to the nearest station"),
    "cv_legend_title_distance": ("到最近站点的路程", "Distance to the nearest station"),
    "cv_legend_standard": ("标准：{standard}", "Standard: {standard}"),
    "cv_legend_estimated": ("{n} 个格网为估算", "{n} cells estimated"),
    "cv_legend_network": ("按路网计算", "On the road network"),
    "cv_legend_within": ("标准之内（已覆盖）", "Within the standard (covered)"),
    "cv_legend_beyond": ("超出标准（未覆盖）", "Beyond the standard (not covered)"),
    "cv_legend_gaps": ("缺口（{n} 个）", "Gaps ({n})"),
    "cv_legend_gaps_top": ("缺口（最大的 {n} 个，共 {total} 个）", "Gaps (largest {n} of {total})"),
    "cv_legend_share_area": ("百分比为面积占比。", "Percentages are shares of the area."),
    "cv_legend_share_demand": ("百分比为需求占比。", "Percentages are shares of the demand."),
    "cv_legend_coarse": ("按 H3 {res} 级绘制（计算用 {of} 级）。", "Drawn at H3 res {res} (computed at {of})."),
    "cv_layer_bands": ("出行分段", "Travel bands"),
    "cv_layer_gaps": ("缺口", "Gaps"),
    "cv_layer_stations": ("站点", "Stations"),
    "cv_layer_districts": ("区县边界", "District outlines"),
    "cv_tip_cells": ("个格网", "cells"),
    "cv_tip_demand": ("需求（{unit}）", "demand ({unit})"),
    "cv_tip_gap": ("缺口", "Gap"),
    "cv_tip_nearest": ("中心距最近站点", "centre to the nearest station"),
    # -- siting page (pages/4_选址_Siting.py) -----------------------------------
    "si_title": ("新站点选址", "Where to build next"),
    "si_intro": ("新站点建在哪里，能让最多尚未覆盖的劳动者在标准内到达？已有站点保持不变，已被覆盖的需求不重复计算。",
                 "Where would new stations reach the most workers not yet within the standard? Existing stations "
                 "stay; demand they already cover is not counted again."),
    "si_kind": ("规划的站点类型", "Kind of station to plan"),
    "si_standard_note": ("默认标准（settings.py）：{standard}。只计开放中的已有站点。",
                         "Default standard (settings.py): {standard}. Only open stations count as existing."),
    "si_candidates": ("候选点", "Candidate sites"),
    "si_source": ("候选点来源", "Candidates from"),
    "si_source_generated": ("未覆盖格网（自动生成）", "Uncovered cells (generated)"),
    "si_source_upload": ("上传文件", "An uploaded file"),
    "si_source_help": ("自动生成：每个有需求的未覆盖格网中心，有路网时吸附到最近的道路上。",
                       "Generated: the centre of every uncovered cell with demand, moved onto the nearest road "
                       "when there is a road network."),
    "si_upload": ("候选点文件（CSV、Excel、GeoJSON、GeoPackage、Shapefile 压缩包）",
                  "Candidate file (CSV, Excel, GeoJSON, GeoPackage, zipped Shapefile)"),
    "si_upload_crs": ("候选点坐标系", "Coordinate system of the candidates"),
    "si_upload_wait": ("请上传候选点文件；在此之前使用自动生成的候选点。",
                       "Upload a candidate file; until then generated candidates are used."),
    "si_upload_rules": ("按站点库导入的同样规则检查（表头、编码、坐标系、广东省范围、重复）。",
                        "Checked by the registry's import rules (headers, encodings, coordinate systems, "
                        "inside Guangdong, duplicates)."),
    "si_upload_error": ("无法读取候选点文件：{error}。本次使用自动生成的候选点。",
                        "The candidate file cannot be read: {error}. Generated candidates are used instead."),
    "si_upload_none": ("候选点文件没有通过检查的行，本次使用自动生成的候选点。",
                       "No row of the candidate file passed the checks; generated candidates are used instead."),
    "si_rows": ("读取", "Rows"),
    "si_accepted": ("通过", "Accepted"),
    "si_rejected": ("拒绝", "Rejected"),
    "si_download_rejects": ("下载被拒绝的行（CSV）", "Download rejected rows (CSV)"),
    "si_exclusions": ("排除区域（GeoJSON 面，可选）", "Exclusion areas (GeoJSON polygons, optional)"),
    "si_exclusions_help": ("落在这些面内（含边界）的候选点不会被选用，如公园、水源保护区。",
                           "Candidates inside these polygons (or on their edge) are never chosen: parks, "
                           "protected water sources ..."),
    "si_exclusions_read": ("排除区域：{n} 个面。", "Exclusion areas: {n} polygon(s)."),
    "si_exclusions_empty": ("排除文件中没有面，未排除任何候选点。", "The exclusion file has no polygons; nothing excluded."),
    "si_exclusions_error": ("无法读取排除区域：{error}。本次不排除。",
                            "The exclusion areas cannot be read: {error}. Nothing is excluded."),
    "si_model": ("模型", "Model"),
    "si_model_mclp": ("最大覆盖（MCLP）", "Most coverage (MCLP)"),
    "si_model_lscp": ("达到目标覆盖率（LSCP）", "Reach a target share (LSCP)"),
    "si_model_pmedian": ("最短平均出行（p-median）", "Shortest mean trip (p-median)"),
    "si_model_help": ("MCLP：给定站点数，覆盖最多的新需求。LSCP：用最少的站点使覆盖率达到目标。"
                      "p-median：给定站点数，使到最近站点的平均出行最短。",
                      "MCLP: with a number of sites, cover the most new demand. LSCP: the fewest sites that bring "
                      "the covered share to a target. p-median: with a number of sites, the shortest mean trip "
                      "to the nearest station."),
    "si_budget": ("新建站点数", "New sites"),
    "si_budget_help": ("拖动即可看到贪心预览；需要最优解时点“精确求解”。",
                       "Drag for a greedy preview; click “Solve exactly” for the optimum."),
    "si_max_sites": ("最多新建站点数", "Most new sites"),
    "si_target": ("目标覆盖率（%）", "Target covered share (%)"),
    "si_time_limit": ("时间上限（秒）", "Time limit (s)"),
    "si_solve_exact": ("精确求解 / Solve exactly", "精确求解 / Solve exactly"),
    "si_solving": ("正在精确求解（HiGHS，最长 {seconds} 秒）…", "Solving exactly (HiGHS, up to {seconds} s)…"),
    "si_solved": ("精确求解完成（{seconds} 秒）", "Solved exactly ({seconds} s)"),
    "si_solve_error": ("精确求解失败：{error}", "The exact solve failed: {error}"),
    "si_building": ("正在准备 {region} 的选址问题（基线覆盖、候选点、可达矩阵）…",
                    "Preparing the siting problem of {region} (baseline coverage, candidates, reach matrix)…"),
    "si_error": ("无法完成选址分析：{error}", "Siting could not be computed: {error}"),
    "si_no_candidates": ("没有可用的候选点（区域已全部覆盖，或候选点都被排除）。",
                         "There are no usable candidates (the region is fully covered, or every candidate "
                         "was excluded)."),
    "si_no_gain": ("没有候选点能在标准内覆盖尚未覆盖的需求，因此不建议新站点。可换用其他候选点，或放宽服务标准。",
                   "No candidate reaches demand that is not yet covered within the standard, so no new site is "
                   "proposed. Try other candidates or a looser standard."),
    "si_method_greedy": ("贪心预览", "Greedy preview"),
    "si_method_exact": ("精确解（HiGHS）", "Exact (HiGHS)"),
    "si_optimal": ("已证明最优（gap 0）", "proven optimal (gap 0)"),
    "si_method_exact_short": ("精确解", "Exact"),
    "si_method_optimal_short": ("精确 · 已证最优", "Exact · proven optimal"),
    "si_time_limit_hit": ("达到时间上限，与最优解的差距不超过 {gap}", "stopped at the time limit, within {gap} of the optimum"),
    "si_gap_bound": ("与最优解的差距不超过 {gap}", "within {gap} of the optimum"),
    "si_gap_unknown": ("差距未知", "gap unknown"),
    "si_status": ("求解状态：{status}", "solver status: {status}"),
    "si_guarantee": ("保证：{text}", "Guarantee: {text}"),
    "si_target_met": ("已达到目标覆盖率 {target}。", "The target share of {target} is reached."),
    "si_target_missed": ("在 {p} 个站点内达不到目标覆盖率 {target}，给出 {p} 个站点的最大覆盖方案。",
                         "The target share of {target} cannot be reached with {p} sites; the most coverage with "
                         "{p} sites is shown."),
    "si_fig_share": ("覆盖率（前 → 后）", "Covered before → after"),
    "si_fig_share_value": ("{before} → {after}", "{before} → {after}"),
    "si_fig_gain": ("提升", "Gain"),
    "si_fig_gain_value": ("+{points} 个百分点", "+{points} points"),
    "si_fig_added": ("新增覆盖（{unit}）", "Newly covered ({unit})"),
    "si_fig_sites": ("新站点", "New sites"),
    "si_fig_method": ("求解", "Solver"),
    "si_fig_travel": ("平均出行（{unit}）", "Mean trip ({unit})"),
    "si_fig_gaps": ("剩余缺口", "Gaps left"),
    "si_downloads": ("下载", "Downloads"),
    "si_dl_proposal": ("规划站点 GeoJSON", "Proposed sites GeoJSON"),
    "si_dl_table": ("前后对比表 CSV", "Before/after table CSV"),
    "si_dl_help": ("规划站点 GeoJSON 可在“数据”页（或 `python -m geo import`）导入站点库，状态为“规划中”；"
                   "再次导入同一方案会更新而不是重复这些站点。",
                   "The proposed-sites GeoJSON imports into the registry on the Data page (or with "
                   "`python -m geo import`) as planned stations; importing the same plan again updates them "
                   "instead of adding copies."),
    "si_map_caption": ("底色为现有站点的{what}分段；蓝色为新站点带来的新覆盖；黑色编号为规划站点；虚线框为剩余缺口。",
                       "The base colours are the {what} bands of existing stations; blue is what the new sites "
                       "newly cover; black numbers are the proposed sites; dashed outlines are the gaps left."),
    "si_before_after": ("前后对比", "Before and after"),
    "si_total": ("合计", "Total"),
    "si_sites": ("规划站点", "Proposed sites"),
    "si_gaps": ("剩余缺口（前 {n} 个，共 {total} 个）", "Gaps left ({n} of {total})"),
    "si_no_gaps": ("没有剩余缺口。", "No gaps are left."),
    "si_col_name": ("区县", "District"),
    "si_col_demand": ("需求（{unit}）", "Demand ({unit})"),
    "si_col_before": ("覆盖率（前）", "Covered before"),
    "si_col_after": ("覆盖率（后）", "Covered after"),
    "si_col_gain": ("提升（百分点）", "Gain (points)"),
    "si_col_added": ("新增覆盖（{unit}）", "Newly covered ({unit})"),
    "si_col_new_sites": ("新站点", "New sites"),
    "si_col_rank": ("编号", "No."),
    "si_col_site": ("候选点", "Candidate"),
    "si_col_district": ("区县", "District"),
    "si_col_cost": ("成本", "Cost"),
    "si_col_saved": ("节省出行（{unit}×需求）", "Travel saved ({unit} × demand)"),
    "si_scenarios": ("方案", "Scenarios"),
    "si_scenario_name": ("方案名称", "Scenario name"),
    "si_scenario_note": ("备注（可选）", "Note (optional)"),
    "si_scenario_overwrite": ("覆盖同名方案", "Replace a scenario of the same name"),
    "si_save": ("保存方案", "Save scenario"),
    "si_saved": ("已保存方案“{name}”。", "Saved scenario “{name}”."),
    "si_save_exists": ("已有同名方案“{name}”；勾选“覆盖同名方案”可替换。",
                       "A scenario called “{name}” exists; tick “Replace a scenario of the same name” to replace it."),
    "si_save_error": ("无法保存方案：{error}", "The scenario could not be saved: {error}"),
    "si_saved_list": ("已保存的方案（{n} 个）", "Saved scenarios ({n})"),
    "si_no_saved": ("还没有保存的方案。保存两个或更多方案即可并排比较。",
                    "No scenario is saved yet. Save two or more to compare them side by side."),
    "si_compare": ("并排比较的方案", "Scenarios to compare side by side"),
    "si_compare_hint": ("选择两个或更多方案。", "Choose two or more scenarios."),
    "si_compare_error": ("无法比较：{error}", "Cannot compare: {error}"),
    "si_scenario_dir": ("方案保存在 {dir}（每个方案一个 JSON 文件，不写入站点库）。",
                        "Scenarios are kept in {dir} (one JSON file each, not in the registry)."),
    "si_scenarios_login": ("任何人都可以运行、下载和比较方案；保存、替换和删除方案需要编辑人员登录。",
                           "Anyone may run, download and compare plans; saving, replacing and deleting "
                           "scenarios needs an editor login."),
    "si_login_help": ("保存、替换和删除方案需要编辑账户（与数据页相同的登录）。",
                      "Saving, replacing and deleting scenarios needs an editor account (the same login as "
                      "the Data page)."),
    "si_delete_header": ("删除方案", "Delete a scenario"),
    "si_delete_pick": ("要删除的方案", "Scenario to delete"),
    "si_delete_sure": ("确认删除这个方案", "Yes, delete this scenario"),
    "si_delete": ("删除方案", "Delete scenario"),
    "si_deleted": ("已删除方案“{name}”。", "Deleted scenario “{name}”."),
    "si_delete_missing": ("没有方案“{name}”（可能已被删除）。", "There is no scenario “{name}” (it may have "
                          "been deleted already)."),
    "si_delete_error": ("无法删除方案：{error}", "The scenario could not be deleted: {error}"),
    "si_col_saved_at": ("保存时间", "Saved at"),
    "si_col_region": ("区域", "Region"),
    "si_col_model": ("模型", "Model"),
    "si_col_method": ("求解", "Solver"),
    "si_col_scenario": ("方案", "Scenario"),
    "si_col_note": ("备注", "Note"),
    "si_measure": ("指标", "Measure"),
    "si_m_region": ("区域", "Region"),
    "si_m_standard": ("服务标准", "Standard"),
    "si_m_model": ("模型", "Model"),
    "si_m_method": ("求解方法", "Solver"),
    "si_m_status": ("求解状态", "Status"),
    "si_m_gap": ("最优性差距", "Optimality gap"),
    "si_m_new_sites": ("新站点", "New sites"),
    "si_m_total_cost": ("总成本", "Total cost"),
    "si_m_before_demand": ("覆盖需求（前）", "Covered demand before"),
    "si_m_after_demand": ("覆盖需求（后）", "Covered demand after"),
    "si_m_added_demand": ("新增覆盖需求", "Newly covered demand"),
    "si_m_before_share": ("覆盖率（前）", "Covered share before"),
    "si_m_after_share": ("覆盖率（后）", "Covered share after"),
    "si_m_gain_points": ("提升（百分点）", "Gain (points)"),
    "si_m_demand_per_site": ("每站新增覆盖", "New coverage per site"),
    "si_m_target_share": ("目标覆盖率", "Target share"),
    "si_m_target_met": ("达到目标", "Target met"),
    "si_m_remaining_gaps": ("剩余缺口", "Gaps left"),
    "si_m_largest_gap_demand": ("最大剩余缺口的需求", "Demand of the largest gap left"),
    "si_m_mean_travel_before": ("平均出行（前）", "Mean trip before"),
    "si_m_mean_travel_after": ("平均出行（后）", "Mean trip after"),
    "si_m_district": ("覆盖率（后）· {name}", "Covered after · {name}"),
    "si_status_optimal": ("最优", "optimal"),
    "si_status_time_limit": ("达到时间上限", "time limit reached"),
    "si_status_greedy": ("贪心", "greedy"),
    "si_yes": ("是", "yes"),
    "si_no": ("否", "no"),
    "si_notes": ("说明与计算时间", "Notes and timings"),
    "si_timings": ("准备问题 {build} 秒（基线 {baseline} 秒，可达矩阵 {reach} 秒）；本次求解 {solve} 秒；页面预览 {preview} 秒。",
                   "Problem prepared in {build} s (baseline {baseline} s, reach matrix {reach} s); this answer "
                   "{solve} s; page preview {preview} s."),
    "si_candidate_summary": ("候选点：{used} 个可用（生成 {generated}，文件通过 {accepted}，排除区内剔除 {excluded}）。",
                             "Candidates: {used} usable (generated {generated}, accepted from the file {accepted}, "
                             "dropped inside exclusion areas {excluded})."),
    "si_legend_title": ("新站点的效果", "What the new sites change"),
    "si_legend_before": ("现有站点的覆盖", "Coverage by existing stations"),
    "si_legend_new": ("新站点带来的新覆盖", "Newly covered by the new sites"),
    "si_legend_sites": ("规划站点（按贡献编号）", "Proposed sites (numbered by what they add)"),
    "si_legend_gaps": ("剩余缺口（{n} 个）", "Gaps left ({n})"),
    "si_legend_gaps_top": ("剩余缺口（最大的 {n} 个，共 {total} 个）", "Gaps left (largest {n} of {total})"),
    "si_layer_new": ("新覆盖", "Newly covered"),
    "si_layer_sites": ("规划站点", "Proposed sites"),
    "si_layer_gaps": ("剩余缺口", "Gaps left"),
    "si_tip_site": ("规划站点 {rank}", "Proposed site {rank}"),
    "si_tip_added": ("新增覆盖", "Newly covers"),
    "si_tip_candidate": ("候选点", "Candidate"),
    "si_tip_district": ("区县", "District"),
    "si_tip_position": ("位置（WGS-84）", "Position (WGS-84)"),
    "si_tip_new": ("新覆盖", "Newly covered"),
}


def t(key: str, lang: str = "zh", **fmt: object) -> str:
    """Return the UI string ``key`` in ``lang``, formatted with ``fmt``.

    Parameters
    ----------
    key : str
        A key of the string table.
    lang : str, default "zh"
        ``"zh"`` or ``"en"``; anything else falls back to Chinese.
    **fmt
        Values for the ``{placeholders}`` in the string.

    Returns
    -------
    str

    Raises
    ------
    KeyError
        If ``key`` is not in the table, so that a typo fails in the tests
        instead of showing a raw key to a user.
    """
    zh, en = _STRINGS[key]
    text = en if _lang(lang) == "en" else zh
    return text.format(**fmt) if fmt else text


def keys() -> tuple[str, ...]:
    """All keys of the string table (for tests and translators)."""
    return tuple(_STRINGS)


def normalize_lang(lang: object) -> str:
    """Return ``lang`` if supported, else the default ``"zh"``.

    Accepts what arrives from a URL query parameter, such as ``"EN"``,
    ``"en-US"`` or a one-element list.
    """
    if isinstance(lang, (list, tuple)):
        lang = lang[0] if lang else ""
    code = str(lang or "").strip().lower()[:2]
    return code if code in LANGS else LANGS[0]


def _lang(lang: str) -> str:
    return "en" if lang == "en" else "zh"


def kind_label(code: str, lang: str = "zh") -> str:
    """Name of the layer ``code`` (e.g. ``rest_station``); the code itself if unknown."""
    kind = schema.KINDS.get(code)
    if kind is None:
        return str(code)
    return kind.en if _lang(lang) == "en" else kind.zh


def facility_label(code: str, lang: str = "zh", icon: bool = False) -> str:
    """Name of the facility ``code``, optionally prefixed by its icon."""
    fac = schema.FACILITIES.get(code)
    if fac is None:
        return str(code)
    label = fac.en if _lang(lang) == "en" else fac.zh
    return f"{fac.icon} {label}" if icon else label


def status_label(code: str, lang: str = "zh") -> str:
    """Name of the status ``code`` (``open``, ``closed`` ...); the code itself if unknown."""
    pair = schema.STATUSES.get(code)
    if pair is None:
        return str(code)
    return pair[1] if _lang(lang) == "en" else pair[0]


def field_label(name: str, lang: str = "zh") -> str:
    """Label of the canonical field ``name``; the name itself if unknown.

    ``lonlat`` (one column holding both coordinates) and ``extra`` (text
    kept verbatim) are not stored fields but can be chosen in the column
    mapping, so they have labels too; so has ``coord_system``, the column
    our CSV and XLSX exports add.
    """
    if name in ("lonlat", "extra"):
        return t(f"mapping_{name}", lang)
    if name == "coord_system":
        return t("field_coord_system", lang)
    fld = schema.FIELDS_BY_NAME.get(name)
    if fld is None:
        return str(name)
    return fld.en if _lang(lang) == "en" else fld.zh


def crs_label(code: str, lang: str = "zh") -> str:
    """Label of a coordinate-system choice of the importer (``auto``, ``wgs84`` ...)."""
    key = f"crs_{code}"
    return t(key, lang) if key in _STRINGS else str(code)


def error_text(exc: BaseException, lang: str = "zh") -> str:
    """The message of an exception in ``lang``.

    The library's errors carry ``zh`` and ``en`` attributes (see
    :class:`geo.registry.io.readers.ReadError`); any other exception is shown as it is.
    """
    text = getattr(exc, "en" if _lang(lang) == "en" else "zh", None)
    return str(text) if text else str(exc)


def pick(text: str, lang: str = "zh") -> str:
    """One language out of a library message written as ``"中文 / English"``.

    Reports and errors from :mod:`geo.registry.validate` carry both languages joined
    by ``" / "``. When the text splits into exactly two such parts, the one
    for ``lang`` is returned; otherwise (a value inside the message contained
    ``" / "`` too, or the text is in one language only) it is returned
    whole, since showing both languages is better than cutting a sentence.
    """
    parts = str(text).split(" / ")
    if len(parts) != 2:
        return str(text)
    return parts[1] if _lang(lang) == "en" else parts[0]
