"""Why a row is rejected or warned about: the codes and their messages in Chinese and English.

:func:`message` fills a code's templates; :data:`MAPPING_HINTS` add to a
reject how a change of the header mapping would fix it.
"""
from __future__ import annotations

from geo import settings

#: Reasons a row is rejected: code -> (Chinese, English) message templates.
REJECT_REASONS: dict[str, tuple[str, str]] = {
    "coord_missing": ("缺少坐标", "coordinates missing"),
    "coord_not_numeric": ("坐标不是有效数字：{value}", "coordinates are not valid numbers: {value}"),
    "coord_out_of_range": ("坐标超出范围（经度 −180～180，纬度 −90～90）：{value}",
                           "coordinates out of range (lon −180…180, lat −90…90): {value}"),
    "coord_zero": ("坐标为 (0, 0)，通常表示未填写", "coordinates are (0, 0), which usually means not filled in"),
    "geometry_invalid": ("几何无法读取（坐标格式错误）", "the geometry cannot be read (malformed coordinates)"),
    "outside_region": ("点位不在服务区域（{region}）内：{value}", "point outside the service region ({region}): {value}"),
    "name_missing": ("缺少名称", "name missing"),
    "unknown_kind": ("无法识别的类型：{value}", "unknown kind: {value}"),
    "kind_mismatch": ("该行类型“{value}”属于{other}图层，不是正在导入的图层；请导入到对应图层",
                      "this row's type '{value}' belongs to the {other} layer, not the one being imported; import it there"),
    "duplicate_source_id": ("与第 {other} 行的来源编号相同（{value}），重复行未导入",
                            "same source id as row {other} ({value}); the duplicate was not imported"),
    "duplicate_nearby": ("与第 {other} 行同名且相距 {value} 米，视为重复，未导入",
                         "same name as row {other} and {value} m away; treated as a duplicate and not imported"),
    "text_too_long": ("{field_zh}（列“{column}”）有 {value} 个字符，超过上限 {limit}，未保存",
                      "{field_en} (column '{column}') has {value} characters, more than the limit of {limit}; not stored"),
}

#: Advice added to a reject when a change of the header mapping would fix it:
#: code -> (Chinese, English) templates, joined to the reason's own message.
MAPPING_HINTS: dict[str, tuple[str, str]] = {
    "coord_column": ("列“{column}”看起来是{what_zh}，可在表头映射中选用（命令行 --map {field}={column}）",
                     "column '{column}' looks like the {what_en}: choose it in the header mapping "
                     "(command line --map {field}={column})"),
    "coord_unmapped": ("没有列映射为{what_zh}，请在表头映射中选择坐标列（经度和纬度，或合并的经纬度 lonlat）",
                       "no column is mapped to the {what_en}: choose the coordinate columns in the header mapping "
                       "(lon and lat, or a combined lonlat)"),
    "name_column": ("名称未映射到任何列；列“{column}”可能是名称，可在表头映射中选用（命令行 --map name={column}）",
                    "no column is mapped to the name; column '{column}' may hold it: choose it in the header mapping "
                    "(command line --map name={column})"),
    "name_unmapped": ("名称未映射到任何列，请在表头映射中选择名称列", "no column is mapped to the name: choose it in the header mapping"),
    "kind_column": ("没有类型列；列“{column}”看起来是类型，可在表头映射中选用（命令行 --map kind={column}），或选择要导入的图层（--kind）",
                    "no type column; column '{column}' looks like the type: choose it in the header mapping "
                    "(command line --map kind={column}), or choose the layer to import into (--kind)"),
    "kind_unmapped": ("没有类型列，名称也看不出图层：请选择要导入的图层（命令行 --kind），或在表头映射中选择类型列",
                      "no type column and the name does not tell the layer: choose the layer to import into "
                      "(command line --kind) or the type column in the header mapping"),
}

#: Warnings on accepted rows: code -> (Chinese, English) message templates.
WARNING_REASONS: dict[str, tuple[str, str]] = {
    "coord_swapped": ("经度和纬度填反了，已自动交换：{value}", "longitude and latitude were swapped and have been fixed: {value}"),
    "geometry_not_point": ("几何类型为 {value}，已取其内部一点", "geometry is a {value}; a point inside it was used"),
    "facility_unmapped": ("未识别的设施已原样保留在“其他设施”中：{value}",
                          "facilities not in the vocabulary were kept in facilities_other: {value}"),
    "hours_unparsed": ("无法识别开放时间，已保留原文：{value}", "opening hours not understood; the text is kept: {value}"),
    "status_unknown": ("无法识别状态“{value}”，按“开放”处理，原文记入备注",
                       "status '{value}' not understood; treated as open, the text is kept in notes"),
    "address_district_mismatch": ("地址写的是{value}，但点位位于{other}", "the address names {value} but the point lies in {other}"),
    "merged_existing": ("与登记库中同名站点 {other} 相距 {value} 米，将更新该站点而不是新增",
                        "same name as registry station {other}, {value} m away; it will be updated, not added again"),
    "bad_number": ("{other} 不是整数：{value}，原文记入其他字段", "{other} is not a whole number: {value}; the text is kept in extra"),
    "kind_from_name": ("类型未填写，按名称判断为 {value}", "type not given; taken as {value} from the name"),
    "kind_name_mismatch": ("名称“{value}”看起来属于 {other} 图层，但已按 {layer} 导入；如有误，请改选图层或填写类型列",
                           "the name '{value}' suggests the {other} layer, but the row was taken as {layer}; "
                           "if that is wrong, choose another layer or give the type in a type column"),
}


class _Blank(dict):
    """Template values: a key a caller did not give is empty, a long value is cut."""

    def __getitem__(self, key: str):
        value = super().__getitem__(key) if key in self else ""
        limit = settings.MESSAGE_VALUE_MAX_CHARS
        if isinstance(value, str) and len(value) > limit:
            # A 49 MiB cell must not come back as a 49 MiB message; the rejects file keeps it whole.
            return value[:limit] + "…"
        return value


def message(code: str, lang: str | None = None, *, hint: list[tuple[str, dict]] | None = None, **values) -> str:
    """The message of a reject or warning code, in one language or both.

    Parameters
    ----------
    code : str
        A key of :data:`REJECT_REASONS` or :data:`WARNING_REASONS`.
    lang : {"zh", "en"}, optional
        One language; default both, as ``"中文 / English"``.
    hint : list of (str, dict), optional
        :data:`MAPPING_HINTS` codes and their values: how a change of the
        header mapping would fix the reject, added to its message.
    **values
        Template values; missing ones are empty, long ones cut to
        ``settings.MESSAGE_VALUE_MAX_CHARS`` characters.
    """
    zh, en = REJECT_REASONS.get(code) or WARNING_REASONS[code]
    zh, en = zh.format_map(_Blank(values)), en.format_map(_Blank(values))
    for hint_code, hint_values in hint or ():
        hint_zh, hint_en = MAPPING_HINTS[hint_code]
        zh = f"{zh}；{hint_zh.format_map(_Blank(hint_values))}"
        en = f"{en}; {hint_en.format_map(_Blank(hint_values))}"
    if lang == "zh":
        return zh
    if lang == "en":
        return en
    return f"{zh} / {en}"
