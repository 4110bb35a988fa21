"""Strings of the app shell, the map page and the map itself (legend, popups, tooltips).

Each entry is (Chinese, English); placeholders use str.format syntax.
Merged into one table by :mod:`geo.core.i18n`, which refuses a key defined twice.
"""
from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
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
    "map_zoom_in": ("放大", "Zoom in"),
    "map_zoom_out": ("缩小", "Zoom out"),
    "map_layers": ("图层", "Layers"),
    "choose_placeholder": ("请选择", "Choose"),
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
}
