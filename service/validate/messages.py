"""Every message the request validator gives, in zh and en (``options.lang``).

marshmallow's own messages (required, unknown field, not a valid integer, …) are
replaced field by field from this catalogue, so no English text of the library
reaches a zh answer. Templates are ``str.format`` strings; marshmallow fills
``{choices}``, ``{min}``, ``{max}`` and ``{input}`` in its validators' messages.
"""
from __future__ import annotations

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"  # as decisions are rendered

CATALOGUE = {
    # marshmallow's built-in messages
    "required": ("缺少必填字段", "missing: this field is required"),
    "null": ("不得为 null", "must not be null"),
    "unknown": ("未知字段", "unknown field"),
    "object": ("须为 JSON 对象", "must be a JSON object"),
    "validator_failed": ("取值无效", "invalid value"),
    "string": ("须为字符串", "not a string"),
    "invalid_utf8": ("不是有效的 UTF-8 字符串", "not a valid UTF-8 string"),
    "integer": ("须为整数", "not an integer"),
    "too_large": ("数值过大", "number too large"),
    "date": ("不是有效日期（YYYY-MM-DD）", "not a valid date (YYYY-MM-DD)"),
    "list": ("须为数组", "not a list"),
    "mapping": ("须为对象", "not an object"),
    "one_of": ("须为以下之一：{choices}", "must be one of: {choices}"),
    "max_length": ("长度不得超过 {max} 个字符", "longer than {max} characters"),
    "length_between": ("长度须为 {min} 至 {max} 个字符", "must be {min} to {max} characters long"),
    "max_items": ("最多 {max} 项", "at most {max} items"),
    "range": ("须在 {min} 至 {max} 之间", "must be between {min} and {max}"),
    "measure_id": ("不是措施编号（如 qz-htz/2.1）", "not a measure id such as qz-htz/2.1"),
    # the project's fields
    "money_float": ("金额须为十进制字符串（如 \"200000.00\"）或整数元，不得为带小数的 JSON 数字",
                    "money must be a decimal string such as \"200000.00\" or an integer of yuan, "
                    "not a JSON number with a fraction"),
    "money_invalid": ("不是最多两位小数的金额", "not an amount of money with at most two decimals"),
    "money_negative": ("不得为负数", "must not be negative"),
    "bool": ("须为 true 或 false", "must be true or false"),
    "rate": ("须为最多六位小数的十进制字符串，如 \"7.1234\"", "a decimal string with at most six decimals, such as \"7.1234\""),
    "id_bar": ("编号不得包含“|”", "must not contain '|'"),
    # the bounds of service/validate/limits.py, each named
    "money_digits": ("金额整数部分最多 {digits} 位（上限 money_digits）",
                     "at most {digits} integer digits of yuan (limit money_digits)"),
    "money_ascii": ("金额只能使用 ASCII 数字 0-9", "money takes ASCII digits 0-9 only"),
    "rate_digits": ("整数部分最多 {digits} 位、小数最多 {decimals} 位（上限 decimal_digits）",
                    "at most {digits} integer digits and {decimals} decimals (limit decimal_digits)"),
    "date_strict": ("不是 YYYY-MM-DD 格式的日期", "not a date written YYYY-MM-DD"),
    "too_many_events": ("共 {count} 个事件，最多 {max} 个（上限 events）；未逐个校验",
                        "{count} events; at most {max} (limit events); none was validated"),
    "known_types_see": ("{problem}；已知类型见 {first}", "{problem}; known types: see {first}"),
    # strict JSON (service/http/body.py)
    "json_constant": ("JSON 中不允许 {value}", "{value} is not JSON"),
    "json_number_long": ("数字超过 {max} 个字符（上限 json_number_chars）",
                         "a number of more than {max} characters (limit json_number_chars)"),
    "json_integer_range": ("整数 {value} 超出 ±{max}（上限 json_integer）",
                           "integer {value} beyond ±{max} (limit json_integer)"),
    "json_number_range": ("数字 {value} 超出可表示范围", "number {value} out of range"),
    "json_duplicate_key": ("键“{name}”重复", "duplicate key '{name}'"),
    "json_surrogate": ("字符串含孤立代理项，不是有效的 Unicode", "a lone surrogate: not valid Unicode"),
    "json_surrogate_key": ("键含孤立代理项，不是有效的 Unicode", "a key with a lone surrogate: not valid Unicode"),
    "json_string_long": ("字符串长 {length} 个字符，最多 {max} 个（上限 json_string）",
                         "a string of {length} characters; at most {max} (limit json_string)"),
    "json_string_long_key": ("键长 {length} 个字符，最多 {max} 个（上限 json_string）",
                             "a key of {length} characters; at most {max} (limit json_string)"),
    "json_depth": ("嵌套超过 {max} 层（上限 json_depth）", "nested deeper than {max} levels (limit json_depth)"),
    "json_members": ("对象有 {count} 个成员，最多 {max} 个（上限 json_members）",
                     "an object of {count} members; at most {max} (limit json_members)"),
    "json_items": ("数组有 {count} 项，最多 {max} 项（上限 json_items）",
                   "an array of {count} items; at most {max} (limit json_items)"),
    # the project's checks
    "grade_required": ("此类事件须注明等级（grade）", "a grade is required for this incident type"),
    "case_object": ("案件须为 JSON 对象", "the case must be a JSON object"),
    "event_object": ("事件须为对象", "an event must be an object"),
    "duplicate_event_id": ("事件编号“{id}”重复（另见 events/{other}）", "duplicate event id '{id}' (also events/{other})"),
    "event_type_missing": ("缺少事件类型", "missing"),
    "event_type_unknown": ("未知事件类型“{type}”", "unknown event type '{type}'"),
    "event_type_not_string": ("事件类型须为字符串", "not a string"),
    "event_type_retired": ("事件类型“{type}”已停用，请改用“{replacement}”（见 CHANGELOG.md）",
                           "event type '{type}' is retired; use '{replacement}' (see CHANGELOG.md)"),
    "known_types": ("{problem}；已知类型：{known}", "{problem}; known types: {known}"),
    "zone_unknown": ("未知园区“{value}”；最接近的已知园区：{closest}", "unknown zone '{value}'; closest known zones: {closest}"),
    "city_unknown": ("未知城市“{value}”；最接近的已知城市：{closest}", "unknown city '{value}'; closest known cities: {closest}"),
    "contradicts_zone": ("{field} 为“{stated}”，与园区登记不符：{zone}（{name}）的 {field} 为“{registered}”",
                         "{field} '{stated}' contradicts the zone registry: {zone} ({name}) has {field} '{registered}'"),
    # prior awards (prior_awards.py)
    "prior_measure_unknown": ("未知措施 '{measure}'：没有已登记文件规定该措施；最接近的：{closest}",
                              "unknown measure '{measure}': no registered document defines it; closest: {closest}"),
    "none_close": ("无", "none"),
    "prior_needs_year": ("须注明该奖励所针对事项的年度：{measure} 按年度或连续年度限额或不叠加（{limits}），支付日期不代表该年度",
                         "the year of the fact this award paid is required: {measure} is capped or grouped per year "
                         "or per run of years ({limits}); the payment date is not that year"),
    "prior_needs_project_id": ("须注明该奖励所针对的项目：{measure} 按项目限额或不叠加（{limits}）",
                               "the project this award paid is required: {measure} is capped or grouped per project ({limits})"),
    "prior_needs_platform_id": ("须注明该奖励所针对的平台：{measure} 按平台限额或不叠加（{limits}）",
                                "the platform this award paid is required: {measure} is capped or grouped per platform ({limits})"),
    # one event per year (one_per_year.py)
    "one_per_year": ("每年{of}只能有一个 {type} 事件：{year} 年已有事件“{other}”（events/{other_index}）",
                     "only one {type} event per year{of}: {year} already has event '{other}' (events/{other_index})"),
    "one_per_year_of": ("及每个 {field}（此处为 {value}）", " and {field} (here {value})"),
    # authentication (service/http/auth.py): what RFC 6750 lets a refusal say, no more
    "auth_required_title": ("需要身份凭证", "Authentication required"),
    "auth_required": ("请以 Authorization: Bearer 发送 API 密钥或 JWT", "send an API key or a JWT as Authorization: Bearer"),
    "auth_invalid_title": ("令牌无效", "Invalid token"),
    "auth_invalid": ("持有者令牌未被接受", "the bearer token was not accepted"),
    "auth_malformed_title": ("授权请求头无效", "Invalid Authorization header"),
    "auth_malformed": ("Authorization 请求头须为 Bearer 加一个令牌", "the Authorization header must be Bearer and one token"),
    "auth_forbidden_title": ("权限不足", "Insufficient role"),
    "auth_forbidden": ("此请求需要角色 {role}", "this request needs the role {role}"),
}


class Messages:
    """The catalogue in one language."""

    def __init__(self, lang: str):
        self.lang = lang
        index = LANGS.index(lang)
        self._texts = {key: texts[index] for key, texts in CATALOGUE.items()}

    def __call__(self, key: str, **args) -> str:
        text = self._texts[key]
        return text.format(**args) if args else text

    def template(self, key: str) -> str:
        """The unformatted text, for marshmallow to fill in."""
        return self._texts[key]

    def join(self, items) -> str:
        return ("、" if self.lang == "zh" else ", ").join(items)


def requested_lang(payload, fallback: str = DEFAULT_LANG) -> str:
    """The language a case asks for (``options.lang``) when it is a known one, else ``fallback``."""
    options = payload.get("options") if isinstance(payload, dict) else None
    lang = options.get("lang") if isinstance(options, dict) else None
    return lang if isinstance(lang, str) and lang in LANGS else fallback
