"""Strings of workers' station reports on the Data page: the editors' queue, decisions, exports.

Each entry is (Chinese, English); placeholders use str.format syntax. The
report types' own names are in :data:`geo.registry.reports.REPORT_TYPES`.
Merged into one table by :mod:`geo.core.i18n`, which refuses a key defined twice.
"""
from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "action_confirm_reports": ("确认反馈", "reports confirmed"),
    "action_dismiss_reports": ("驳回反馈", "reports dismissed"),
    "action_keep_reports_open": ("反馈暂留", "reports left open"),
    "rq_header": ("工人反馈（{n} 个站点待处理）", "Workers' reports ({n} station(s) waiting)"),
    "rq_help": ("工人在找站页面上对站点的反馈，按未处理的反馈数排序。确认会按正常编辑修改站点并关闭所回应的反馈；"
                "驳回需写明理由；暂留只记录已查看。每个操作都记入修改记录。反馈内容按原样显示为文字。",
                "Reports workers filed on the finder's cards, most reported first. Confirm changes the station "
                "through the normal audited edit and closes the reports it answers; dismiss needs a reason; "
                "leave open only records that you looked. Every action is in the audit log. Texts are shown "
                "as plain text, as written."),
    "rq_none": ("没有待处理的反馈。", "No open reports."),
    "rq_station": ("站点", "Station"),
    "rq_open": ("未处理", "Open"),
    "rq_types": ("反馈类型", "Types"),
    "rq_first": ("最早", "First"),
    "rq_last": ("最近", "Latest"),
    "rq_status": ("站点状态", "Station status"),
    "rq_pick": ("处理哪个站点的反馈", "Station to act on"),
    "rq_at": ("时间（北京时间）", "Time (Beijing)"),
    "rq_type": ("类型", "Type"),
    "rq_text": ("补充说明（原文）", "Text (as written)"),
    "rq_answers": ("本次处理回应的反馈类型", "Report types this decision answers"),
    "rq_action": ("处理方式", "Action"),
    "rq_confirm": ("确认（修改站点并关闭反馈）", "Confirm (change the station, close the reports)"),
    "rq_dismiss": ("驳回（写明理由）", "Dismiss (give a reason)"),
    "rq_keep_open": ("暂留（只记录已查看）", "Leave open (record that you looked)"),
    "rq_new_status": ("站点状态改为", "Set the station's status to"),
    "rq_keep_status": ("不改状态", "Keep the status"),
    "rq_facilities": ("设施（确认后保存为）", "Facilities (saved as)"),
    "rq_reason": ("理由或备注", "Reason or note"),
    "rq_apply": ("执行", "Apply"),
    "rq_done": ("已处理站点 {id} 的反馈：关闭 {n} 条。", "Reports of station {id} handled: {n} closed."),
    "rq_error": ("未能处理：{error}", "Not done: {error}"),
    "rq_downloads": ("下载全部反馈（不含任何访客信息）", "Download all reports (no visitor data)"),
    "rq_csv": ("反馈 CSV", "Reports CSV"),
    "rq_geojson": ("反馈 GeoJSON", "Reports GeoJSON"),
    "cv_col_open_reports": ("未处理的工人反馈", "Open worker reports"),
    "map_not_serving": ("按工人反馈排除不提供服务的站点", "Leave out stations workers report closed or gone"),
}
