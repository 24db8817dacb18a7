/*
 * test_json_conformance.c - RFC 8259 conformance of event_parse, in the
 * style of JSONTestSuite (y_ must be accepted, n_ refused), plus the field
 * rules of event.h.
 *
 * Each JSON case is wrapped in a minimal valid event so that the JSON
 * rules, not the field rules, decide: W_VALUE puts the case as the value
 * of metadata.v, W_MEMBERS as the members of metadata, W_RAW uses it as the
 * whole input. Expected offsets are relative to the start of the case (or
 * END for the end of the whole input), so a refusal at the wrong byte fails.
 */
#include "test.h"

#include "common/buf.h"
#include "common/util.h"
#include "event/event.h"

enum { W_VALUE, W_MEMBERS, W_RAW };
#define OK 0
#define INV ST_EINVAL
#define LIM ST_ELIMIT
#define ANY -1   /* offset not checked */
#define END -2   /* the end of the whole input */

struct tcase {
	const char *name;
	int wrap;
	const char *in;
	size_t len;          /* 0: strlen(in) */
	int code;
	long off;            /* relative to the case; ANY; END */
	const char *path;    /* NULL: not checked */
};

#define PRE "{\"time\":\"2026-11-27T22:10:17.123Z\",\"action\":\"a.b\",\"actor\":{\"id\":\"u1\"},\"resource\":{\"type\":\"t\"},\"metadata\":{"
#define PRE_V PRE "\"v\":"

static const struct tcase cases[] = {
	/* ---- numbers ---- */
	{ "y_number_0", W_VALUE, "0", 0, OK, 0, NULL },
	{ "y_number_minus_0", W_VALUE, "-0", 0, OK, 0, NULL },
	{ "y_number_int", W_VALUE, "123", 0, OK, 0, NULL },
	{ "y_number_neg", W_VALUE, "-123", 0, OK, 0, NULL },
	{ "y_number_frac", W_VALUE, "1.5", 0, OK, 0, NULL },
	{ "y_number_0_frac", W_VALUE, "0.0001", 0, OK, 0, NULL },
	{ "y_number_exp", W_VALUE, "1e5", 0, OK, 0, NULL },
	{ "y_number_EXP", W_VALUE, "1E5", 0, OK, 0, NULL },
	{ "y_number_exp_plus", W_VALUE, "1e+5", 0, OK, 0, NULL },
	{ "y_number_exp_minus", W_VALUE, "1E-05", 0, OK, 0, NULL },
	{ "y_number_frac_exp", W_VALUE, "-1.25e10", 0, OK, 0, NULL },
	{ "y_number_minus_0_exp", W_VALUE, "-0.0e-0", 0, OK, 0, NULL },
	{ "y_number_huge_int", W_VALUE, "123456789012345678901234567890", 0, OK, 0, NULL },
	{ "y_number_huge_exp", W_VALUE, "1E400", 0, OK, 0, NULL },
	{ "y_number_in_array", W_VALUE, "[0,-1,2.5,3e3]", 0, OK, 0, NULL },
	{ "n_number_leading_zero", W_VALUE, "01", 0, INV, 0, "metadata.v" },
	{ "n_number_neg_leading_zero", W_VALUE, "-012", 0, INV, 1, NULL },
	{ "n_number_plus", W_VALUE, "+1", 0, INV, 0, NULL },
	{ "n_number_dot_first", W_VALUE, ".5", 0, INV, 0, NULL },
	{ "n_number_dot_last", W_VALUE, "1.", 0, INV, 2, NULL },
	{ "n_number_dot_exp", W_VALUE, "1.e5", 0, INV, 2, NULL },
	{ "n_number_exp_empty", W_VALUE, "1e", 0, INV, 2, NULL },
	{ "n_number_exp_sign_only", W_VALUE, "1e+", 0, INV, 3, NULL },
	{ "n_number_exp_EE", W_VALUE, "1eE2", 0, INV, 2, NULL },
	{ "n_number_minus_only", W_VALUE, "-", 0, INV, 1, NULL },
	{ "n_number_minus_minus", W_VALUE, "--1", 0, INV, 1, NULL },
	{ "n_number_minus_space", W_VALUE, "- 1", 0, INV, 1, NULL },
	{ "n_number_hex", W_VALUE, "0x1F", 0, INV, 1, NULL },
	{ "n_number_two_dots", W_VALUE, "1.5.5", 0, INV, 3, NULL },
	{ "n_number_NaN", W_VALUE, "NaN", 0, INV, 0, NULL },
	{ "n_number_Infinity", W_VALUE, "Infinity", 0, INV, 0, NULL },
	{ "n_number_minus_Infinity", W_VALUE, "-Infinity", 0, INV, 1, NULL },
	{ "n_number_space_inside", W_VALUE, "1 000", 0, INV, 2, NULL },
	{ "n_number_comma_decimal", W_VALUE, "1,5", 0, INV, 2, NULL },
	{ "n_number_minus_dot", W_VALUE, "-.5", 0, INV, 1, NULL },
	{ "n_number_leading_zero_in_array", W_VALUE, "[1,00]", 0, INV, 3, "metadata.v[1]" },
	{ "n_number_fullwidth_digit", W_VALUE, "\xEF\xBC\x91", 0, INV, 0, NULL },

	/* ---- literals ---- */
	{ "y_true", W_VALUE, "true", 0, OK, 0, NULL },
	{ "y_false", W_VALUE, "false", 0, OK, 0, NULL },
	{ "y_null", W_VALUE, "null", 0, OK, 0, NULL },
	{ "n_true_caps", W_VALUE, "True", 0, INV, 0, NULL },
	{ "n_tru", W_VALUE, "tru", 0, INV, 0, NULL },
	{ "n_nul", W_VALUE, "nul", 0, INV, 0, NULL },
	{ "n_fals", W_VALUE, "fals", 0, INV, 0, NULL },
	{ "n_truex", W_VALUE, "truex", 0, INV, 4, NULL },
	{ "n_nulll", W_VALUE, "nulll", 0, INV, 4, NULL },
	{ "n_undefined", W_VALUE, "undefined", 0, INV, 0, NULL },
	{ "n_empty_value", W_VALUE, "", 0, INV, 0, NULL },

	/* ---- strings and escapes ---- */
	{ "y_string_empty", W_VALUE, "\"\"", 0, OK, 0, NULL },
	{ "y_string_simple_escapes", W_VALUE, "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", 0, OK, 0, NULL },
	{ "y_string_u0000", W_VALUE, "\"\\u0000\"", 0, OK, 0, NULL },
	{ "y_string_u_lower_hex", W_VALUE, "\"\\u00e9\\u00E9\"", 0, OK, 0, NULL },
	{ "y_string_uFFFF", W_VALUE, "\"\\uFFFF\"", 0, OK, 0, NULL },
	{ "y_string_surrogate_pair", W_VALUE, "\"\\uD834\\uDD1E\"", 0, OK, 0, NULL },
	{ "y_string_last_surrogates", W_VALUE, "\"\\uDBFF\\uDFFF\"", 0, OK, 0, NULL },
	{ "y_string_slash_raw", W_VALUE, "\"a/b\"", 0, OK, 0, NULL },
	{ "y_string_del_raw", W_VALUE, "\"\x7f\"", 0, OK, 0, NULL },
	{ "y_string_long_ascii", W_VALUE, "\"0123456789abcdef0123456789abcdef0123456789abcdef0\\n0123456789abcdef\"", 0, OK, 0, NULL },
	{ "y_string_escape_at_16", W_VALUE, "\"0123456789abcde\\\"0123456789abcdef\"", 0, OK, 0, NULL },
	{ "n_string_ctrl_01", W_VALUE, "\"a\x01\"", 0, INV, 2, "metadata.v" },
	{ "n_string_ctrl_tab", W_VALUE, "\"a\tb\"", 0, INV, 2, NULL },
	{ "n_string_ctrl_newline", W_VALUE, "\"a\nb\"", 0, INV, 2, NULL },
	{ "n_string_ctrl_1f", W_VALUE, "\"\x1f\"", 0, INV, 1, NULL },
	{ "n_string_ctrl_nul", W_VALUE, "\"a\0b\"", 5, INV, 2, NULL },
	{ "n_string_ctrl_after_16", W_VALUE, "\"0123456789abcdef0123\x02\"", 0, INV, 21, NULL },
	{ "n_string_escape_x", W_VALUE, "\"\\x41\"", 0, INV, 1, NULL },
	{ "n_string_escape_U", W_VALUE, "\"\\U0041\"", 0, INV, 1, NULL },
	{ "n_string_escape_apostrophe", W_VALUE, "\"\\'\"", 0, INV, 1, NULL },
	{ "n_string_escape_space", W_VALUE, "\"\\ \"", 0, INV, 1, NULL },
	{ "n_string_escape_u_short", W_VALUE, "\"\\u12\"", 0, INV, 1, NULL },
	{ "n_string_escape_u_bad_hex", W_VALUE, "\"\\u12G4\"", 0, INV, 1, NULL },
	{ "n_string_lone_high", W_VALUE, "\"\\uD800\"", 0, INV, 1, NULL },
	{ "n_string_lone_low", W_VALUE, "\"\\uDC00\"", 0, INV, 1, NULL },
	{ "n_string_lone_low_last", W_VALUE, "\"ab\\uDFFF\"", 0, INV, 3, NULL },
	{ "n_string_high_then_bmp", W_VALUE, "\"\\uD800\\u0041\"", 0, INV, 1, NULL },
	{ "n_string_high_then_high", W_VALUE, "\"\\uDBFF\\uDBFF\"", 0, INV, 1, NULL },
	{ "n_string_high_then_text", W_VALUE, "\"\\uD834abcdef\"", 0, INV, 1, NULL },
	{ "n_string_high_then_escape", W_VALUE, "\"\\uD834\\n\\uDD1E\"", 0, INV, 1, NULL },
	{ "n_string_low_then_high", W_VALUE, "\"\\uDD1E\\uD834\"", 0, INV, 1, NULL },
	{ "n_string_single_quote", W_VALUE, "'a'", 0, INV, 0, NULL },
	{ "n_string_unterminated", W_VALUE, "\"abc", 0, INV, END, NULL },
	{ "n_string_backslash_at_end", W_RAW, PRE_V "\"abc\\", 0, INV, END, NULL },
	{ "n_string_u_at_end", W_RAW, PRE_V "\"\\u00", 0, INV, ANY, NULL },

	/* ---- UTF-8 ---- */
	{ "y_utf8_2byte", W_VALUE, "\"\xC3\xA9\"", 0, OK, 0, NULL },
	{ "y_utf8_3byte", W_VALUE, "\"\xE2\x82\xAC\"", 0, OK, 0, NULL },
	{ "y_utf8_4byte", W_VALUE, "\"\xF0\x9D\x84\x9E\"", 0, OK, 0, NULL },
	{ "y_utf8_U+0080", W_VALUE, "\"\xC2\x80\"", 0, OK, 0, NULL },
	{ "y_utf8_U+07FF", W_VALUE, "\"\xDF\xBF\"", 0, OK, 0, NULL },
	{ "y_utf8_U+0800", W_VALUE, "\"\xE0\xA0\x80\"", 0, OK, 0, NULL },
	{ "y_utf8_U+D7FF", W_VALUE, "\"\xED\x9F\xBF\"", 0, OK, 0, NULL },
	{ "y_utf8_U+E000", W_VALUE, "\"\xEE\x80\x80\"", 0, OK, 0, NULL },
	{ "y_utf8_U+FFFF", W_VALUE, "\"\xEF\xBF\xBF\"", 0, OK, 0, NULL },
	{ "y_utf8_U+10000", W_VALUE, "\"\xF0\x90\x80\x80\"", 0, OK, 0, NULL },
	{ "y_utf8_U+10FFFF", W_VALUE, "\"\xF4\x8F\xBF\xBF\"", 0, OK, 0, NULL },
	{ "y_utf8_mixed_long", W_VALUE, "\"caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80 0123456789abcdef\"", 0, OK, 0, NULL },
	{ "y_utf8_in_key", W_MEMBERS, "\"cl\xC3\xA9\":1", 0, OK, 0, NULL },
	{ "n_utf8_overlong_2_nul", W_VALUE, "\"\xC0\x80\"", 0, INV, 1, NULL },
	{ "n_utf8_overlong_2_C1", W_VALUE, "\"\xC1\xBF\"", 0, INV, 1, NULL },
	{ "n_utf8_overlong_3", W_VALUE, "\"\xE0\x80\x80\"", 0, INV, 2, NULL },
	{ "n_utf8_overlong_3_max", W_VALUE, "\"\xE0\x9F\xBF\"", 0, INV, 2, NULL },
	{ "n_utf8_overlong_4", W_VALUE, "\"\xF0\x80\x80\x80\"", 0, INV, 2, NULL },
	{ "n_utf8_overlong_4_max", W_VALUE, "\"\xF0\x8F\xBF\xBF\"", 0, INV, 2, NULL },
	{ "n_utf8_surrogate_D800", W_VALUE, "\"\xED\xA0\x80\"", 0, INV, 2, NULL },
	{ "n_utf8_surrogate_DFFF", W_VALUE, "\"\xED\xBF\xBF\"", 0, INV, 2, NULL },
	{ "n_utf8_surrogate_pair", W_VALUE, "\"\xED\xA0\xBD\xED\xB2\xA9\"", 0, INV, 2, NULL },
	{ "n_utf8_above_10FFFF", W_VALUE, "\"\xF4\x90\x80\x80\"", 0, INV, 2, NULL },
	{ "n_utf8_F5", W_VALUE, "\"\xF5\x80\x80\x80\"", 0, INV, 1, NULL },
	{ "n_utf8_F8_5byte", W_VALUE, "\"\xF8\x88\x80\x80\x80\"", 0, INV, 1, NULL },
	{ "n_utf8_FE", W_VALUE, "\"\xFE\"", 0, INV, 1, NULL },
	{ "n_utf8_FF", W_VALUE, "\"\xFF\"", 0, INV, 1, NULL },
	{ "n_utf8_lone_continuation", W_VALUE, "\"\x80\"", 0, INV, 1, NULL },
	{ "n_utf8_lone_continuation_BF", W_VALUE, "\"ab\xBF\"", 0, INV, 3, NULL },
	{ "n_utf8_truncated_2", W_VALUE, "\"\xC3\"", 0, INV, 2, NULL },
	{ "n_utf8_truncated_3", W_VALUE, "\"\xE2\x82\"", 0, INV, 3, NULL },
	{ "n_utf8_truncated_4", W_VALUE, "\"\xF0\x9D\x84\"", 0, INV, 4, NULL },
	{ "n_utf8_truncated_then_ascii", W_VALUE, "\"\xE2" "A\xAC\"", 0, INV, 2, NULL },
	{ "n_utf8_truncated_at_eof", W_RAW, PRE_V "\"\xF0\x9D", 0, INV, END, NULL },
	{ "n_utf8_after_16_ascii", W_VALUE, "\"0123456789abcdef0123\xC0\xAF\"", 0, INV, 21, NULL },
	{ "n_utf8_in_key", W_MEMBERS, "\"a\xED\xA0\x80\":1", 0, INV, 3, "metadata" },
	{ "n_utf8_outside_string", W_VALUE, "\xC3\xA9", 0, INV, 0, NULL },

	/* ---- structure ---- */
	{ "y_array_empty", W_VALUE, "[]", 0, OK, 0, NULL },
	{ "y_object_empty", W_VALUE, "{}", 0, OK, 0, NULL },
	{ "y_nested_mixed", W_VALUE, "[{\"a\":[1,{\"b\":null}]},[],{}]", 0, OK, 0, NULL },
	{ "y_whitespace_everywhere", W_VALUE, " \t\r\n[ 1 , { \"a\" : 2 } ]\n", 0, OK, 0, NULL },
	{ "y_members_empty", W_MEMBERS, "", 0, OK, 0, NULL },
	{ "n_object_missing_colon", W_MEMBERS, "\"a\" 1", 0, INV, 4, "metadata.a" },
	{ "n_object_double_colon", W_MEMBERS, "\"a\"::1", 0, INV, 4, NULL },
	{ "n_object_trailing_comma", W_MEMBERS, "\"a\":1,", 0, INV, 6, "metadata" },
	{ "n_object_leading_comma", W_MEMBERS, ",\"a\":1", 0, INV, 0, NULL },
	{ "n_object_key_only", W_MEMBERS, "\"a\"", 0, INV, 3, NULL },
	{ "n_object_unquoted_key", W_MEMBERS, "a:1", 0, INV, 0, NULL },
	{ "n_object_single_quoted_key", W_MEMBERS, "'a':1", 0, INV, 0, NULL },
	{ "n_object_number_key", W_MEMBERS, "1:1", 0, INV, 0, NULL },
	{ "n_object_missing_comma", W_MEMBERS, "\"a\":1 \"b\":2", 0, INV, 6, NULL },
	{ "n_object_semicolon", W_MEMBERS, "\"a\":1;\"b\":2", 0, INV, 5, NULL },
	{ "n_object_missing_value", W_MEMBERS, "\"a\":", 0, INV, 4, NULL },
	{ "n_object_unclosed", W_VALUE, "{\"a\":1", 0, INV, END, NULL },
	{ "n_array_trailing_comma", W_VALUE, "[1,]", 0, INV, 3, "metadata.v[1]" },
	{ "n_array_leading_comma", W_VALUE, "[,1]", 0, INV, 1, NULL },
	{ "n_array_double_comma", W_VALUE, "[1,,2]", 0, INV, 3, NULL },
	{ "n_array_missing_comma", W_VALUE, "[1 2]", 0, INV, 3, NULL },
	{ "n_array_unclosed", W_VALUE, "[1", 0, INV, 2, NULL },
	{ "n_array_colon", W_VALUE, "[\"a\":1]", 0, INV, 4, NULL },
	{ "n_mismatched_brackets", W_VALUE, "[}", 0, INV, 1, NULL },
	{ "n_comment", W_VALUE, "/* c */ 1", 0, INV, 0, NULL },
	{ "n_formfeed_whitespace", W_VALUE, "\f1", 0, INV, 0, NULL },
	{ "n_vertical_tab_whitespace", W_VALUE, "\v1", 0, INV, 0, NULL },
	{ "n_nbsp_whitespace", W_VALUE, "\xC2\xA0" "1", 0, INV, 0, NULL },

	/* ---- duplicate keys (decoded value) ---- */
	{ "n_dup_plain", W_MEMBERS, "\"a\":1,\"a\":2", 0, INV, 6, "metadata.a" },
	{ "n_dup_escaped", W_MEMBERS, "\"a\":1,\"\\u0061\":2", 0, INV, 6, NULL },
	{ "n_dup_escaped_first", W_MEMBERS, "\"\\u0061\":1,\"a\":2", 0, INV, 11, NULL },
	{ "n_dup_utf8_vs_escape", W_MEMBERS, "\"\\u00e9\":1,\"\xC3\xA9\":2", 0, INV, 11, NULL },
	{ "n_dup_surrogate_pair", W_MEMBERS, "\"\\uD834\\uDD1E\":1,\"\xF0\x9D\x84\x9E\":2", 0, INV, 17, NULL },
	{ "n_dup_solidus", W_MEMBERS, "\"\\/\":1,\"/\":2", 0, INV, 7, NULL },
	{ "n_dup_nested", W_MEMBERS, "\"x\":{\"a\":1,\"b\":2,\"a\":3}", 0, INV, 17, "metadata.x.a" },
	{ "n_dup_empty_key", W_MEMBERS, "\"\":1,\"\":2", 0, INV, 5, NULL },
	{ "n_dup_after_child", W_MEMBERS, "\"a\":{\"a\":{}},\"a\":1", 0, INV, 13, NULL },
	{ "y_dup_case_differs", W_MEMBERS, "\"a\":1,\"A\":2", 0, OK, 0, NULL },
	{ "y_dup_different_objects", W_MEMBERS, "\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":2}", 0, OK, 0, NULL },
	{ "y_dup_nul_suffix", W_MEMBERS, "\"a\\u0000\":1,\"a\":2", 0, OK, 0, NULL },
	{ "y_dup_array_of_objects", W_VALUE, "[{\"a\":1},{\"a\":1}]", 0, OK, 0, NULL },
	{ "y_big_object_unique", W_MEMBERS,
	  "\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,"
	  "\"k10\":0,\"k11\":1,\"k12\":2,\"k13\":3,\"k14\":4,\"k15\":5,\"k16\":6,\"k17\":7,\"k18\":8,\"k19\":9", 0, OK, 0, NULL },
	{ "n_big_object_dup_last", W_MEMBERS,
	  "\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,"
	  "\"k10\":0,\"k11\":1,\"k12\":2,\"k13\":3,\"k14\":4,\"k15\":5,\"k16\":6,\"k17\":7,\"k18\":8,\"k\\u0030\":9", 0, INV, 142, "metadata.k\\u0030" },
	{ "n_big_object_dup_after_big_child", W_MEMBERS,
	  "\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,"
	  "\"k10\":0,\"k11\":1,\"k12\":2,\"k13\":3,\"k14\":4,\"k15\":5,\"k16\":6,\"k17\":7,\"k18\":8,"
	  "\"c\":{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,"
	  "\"k10\":0,\"k11\":1,\"k12\":2,\"k13\":3,\"k14\":4,\"k15\":5,\"k16\":6,\"k17\":7,\"k18\":8,\"k19\":9},"
	  "\"k19\":1,\"k5\":2", 0, INV, 306, "metadata.k5" },

	/* ---- top level ---- */
	{ "n_empty_input", W_RAW, "", 0, INV, 0, "" },
	{ "n_only_whitespace", W_RAW, " \n", 0, INV, 2, NULL },
	{ "n_top_array", W_RAW, "[]", 0, INV, 0, NULL },
	{ "n_top_number", W_RAW, "1", 0, INV, 0, NULL },
	{ "n_top_string", W_RAW, "\"x\"", 0, INV, 0, NULL },
	{ "n_top_null", W_RAW, "null", 0, INV, 0, NULL },
	{ "n_top_close", W_RAW, "}", 0, INV, 0, NULL },
	{ "n_top_open_only", W_RAW, "{", 0, INV, 1, NULL },
	{ "n_bom", W_RAW, "\xEF\xBB\xBF" PRE "}}", 0, INV, 0, NULL },
	{ "n_trailing_garbage", W_RAW, PRE "}}x", 0, INV, END - 1, NULL },
	{ "n_trailing_second_object", W_RAW, PRE "}} {}", 0, INV, END - 2, "" },
	{ "n_trailing_nul", W_RAW, PRE "}}\0", sizeof(PRE "}}\0") - 1, INV, END - 1, NULL },
	{ "n_trailing_close", W_RAW, PRE "}}}", 0, INV, END - 1, NULL },
	{ "y_trailing_whitespace", W_RAW, PRE "}} \t\r\n", 0, OK, 0, NULL },
	{ "y_leading_whitespace", W_RAW, " \t\r\n" PRE "}}", 0, OK, 0, NULL },

	/* ---- limits (defaults: depth 32, string 32768) ---- */
	/* root and metadata are depths 1 and 2: 30 more arrays reach 32. */
	{ "y_depth_at_limit", W_VALUE, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", 0, OK, 0, NULL },
	{ "n_depth_over_limit", W_VALUE, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", 0, LIM, 30, NULL },
	{ "y_depth_at_limit_object", W_VALUE, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", 0, OK, 0, NULL },
	{ "n_depth_over_limit_object", W_VALUE, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", 0, LIM, 30, NULL },
	{ "n_depth_unclosed_deep", W_VALUE, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", 0, LIM, 30, NULL },
};

static int build(const struct tcase *c, struct buf *in, size_t *base)
{
	size_t n = c->len ? c->len : strlen(c->in);

	buf_reset(in);
	switch (c->wrap) {
	case W_VALUE:
		*base = strlen(PRE_V);
		buf_puts(in, PRE_V);
		buf_append(in, c->in, n);
		return buf_puts(in, "}}");
	case W_MEMBERS:
		*base = strlen(PRE);
		buf_puts(in, PRE);
		buf_append(in, c->in, n);
		return buf_puts(in, "}}");
	default:
		*base = 0;
		return buf_append(in, c->in, n);
	}
}

static void run_cases(void)
{
	struct buf in = BUF_INIT(1 << 20), out = BUF_INIT(1 << 20);
	struct event_limits lim;
	int accepted = 0, refused = 0;

	event_limits_default(&lim);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct tcase *c = &cases[i];
		struct event_error err;
		size_t base;
		char msg[400];

		build(c, &in, &base);
		buf_reset(&out);
		buf_puts(&out, "prefix");
		int rc = event_parse(in.data, in.len, &lim, &out, NULL, &err);
		event_error_format(&err, msg, sizeof(msg));
		CHECK_MSG(rc == c->code, "%s: rc %d, expected %d (%s)", c->name, rc, c->code,
			  rc ? msg : "accepted");
		if (rc == 0) {
			accepted++;
			CHECK_MSG(out.len > 6 && memcmp(out.data, "prefix", 6) == 0, "%s", c->name);
			continue;
		}
		refused++;
		CHECK_MSG(out.len == 6, "%s: out.len %zu after refusal", c->name, out.len);
		CHECK_MSG(err.code == rc, "%s: err.code", c->name);
		CHECK_MSG(err.msg[0] != 0, "%s: empty message", c->name);
		if (c->off != ANY) {
			size_t want = c->off <= END ? in.len - (size_t)(END - c->off) : base + (size_t)c->off;
			CHECK_MSG(err.offset == want, "%s: offset %zu, expected %zu (%s)", c->name,
				  err.offset, want, msg);
		}
		if (c->path)
			CHECK_MSG(strcmp(err.path, c->path) == 0, "%s: path \"%s\", expected \"%s\" (%s)",
				  c->name, err.path, c->path, msg);
	}
	printf("json cases: %d accepted, %d refused\n", accepted, refused);
	CHECK(accepted + refused >= 150);
	buf_release(&in);
	buf_release(&out);
}

/* Field rules: whole inputs, with the exact error path and offset. */
struct fcase {
	const char *name;
	const char *in;
	int code;
	size_t off;
	const char *path;
	const char *msg;     /* substring of the message, or NULL */
};

#define ACT "\"action\":\"a.b\""
#define ACTOR "\"actor\":{\"id\":\"u1\"}"
#define RES "\"resource\":{\"type\":\"t\"}"
#define TIME "\"time\":\"2026-11-27T22:10:17.123Z\""

static const struct fcase fcases[] = {
	{ "minimal", "{" TIME "," ACT "," ACTOR "," RES "}", OK, 0, "", NULL },
	{ "all_fields", "{\"id\":\"e-1\"," TIME ",\"tenant\":\"acme-1.prod_x\","
	  "\"actor\":{\"id\":\"u1\",\"type\":\"user\",\"name\":\"A\",\"ip\":\"10.0.0.1\",\"user_agent\":\"ua\","
	  "\"auth\":{\"m\":\"oidc\"},\"on_behalf_of\":\"u2\",\"extra\":1}," ACT ","
	  "\"resource\":{\"type\":\"t\",\"id\":\"r\",\"name\":\"n\",\"parent\":\"p\",\"x\":[1]},"
	  "\"outcome\":\"denied\",\"reason\":\"r\",\"request_id\":\"q\",\"trace_id\":\"tr\",\"parent_id\":\"pa\","
	  "\"source\":{\"service\":\"s\",\"producer_seq\":3},\"before\":null,\"after\":[1,\"x\"],"
	  "\"metadata\":{\"k\":true},\"schema\":\"iam/1\"}", OK, 0, "", NULL },
	{ "missing_time", "{" ACT "," ACTOR "," RES "}", INV, 59, "time", "required field is missing" },
	{ "missing_action", "{" TIME "," ACTOR "," RES "}", INV, 78, "action", "required" },
	{ "missing_actor", "{" TIME "," ACT "," RES "}", INV, 73, "actor", "required" },
	{ "missing_resource", "{" TIME "," ACT "," ACTOR "}", INV, 69, "resource", "required" },
	{ "missing_actor_id", "{" TIME "," ACT ",\"actor\":{\"name\":\"x\"}," RES "}", INV, 69, "actor.id", "required" },
	{ "empty_actor", "{" TIME "," ACT ",\"actor\":{}," RES "}", INV, 59, "actor.id", "required" },
	{ "missing_resource_type", "{" TIME "," ACT "," ACTOR ",\"resource\":{\"id\":\"r\"}}", INV, 90, "resource.type", NULL },
	{ "time_number", "{\"time\":1," ACT "," ACTOR "," RES "}", INV, 8, "time", "expected string, found number" },
	{ "time_bad", "{\"time\":\"2026-02-30T00:00:00Z\"," ACT "," ACTOR "," RES "}", INV, 8, "time", "RFC 3339" },
	{ "time_no_zone", "{\"time\":\"2026-01-01T00:00:00\"," ACT "," ACTOR "," RES "}", INV, 8, "time", "RFC 3339" },
	{ "time_year_2262", "{\"time\":\"2262-04-12T00:00:00Z\"," ACT "," ACTOR "," RES "}", INV, 8, "time", "years 1678-2261" },
	{ "time_year_9999", "{\"time\":\"9999-12-31T23:59:59Z\"," ACT "," ACTOR "," RES "}", INV, 8, "time", "RFC 3339" },
	{ "time_year_1677", "{\"time\":\"1677-01-01T00:00:00Z\"," ACT "," ACTOR "," RES "}", INV, 8, "time", "RFC 3339" },
	{ "time_year_2261_ok", "{\"time\":\"2261-12-31T23:59:59.999999999-23:59\"," ACT "," ACTOR "," RES "}", OK, 0, "", NULL },
	{ "time_year_1678_ok", "{\"time\":\"1678-01-01T00:00:00+23:59\"," ACT "," ACTOR "," RES "}", OK, 0, "", NULL },
	{ "time_escaped_ok", "{\"time\":\"2026-11-27T22:10:17\\u002E123Z\"," ACT "," ACTOR "," RES "}", OK, 0, "", NULL },
	{ "action_empty", "{" TIME ",\"action\":\"\"," ACTOR "," RES "}", INV, 44, "action", "expected non-empty string, found empty string" },
	{ "action_array", "{" TIME ",\"action\":[]," ACTOR "," RES "}", INV, 44, "action", "expected string, found array" },
	{ "actor_string", "{" TIME "," ACT ",\"actor\":\"u1\"," RES "}", INV, 58, "actor", "expected object, found string" },
	{ "actor_id_empty", "{" TIME "," ACT ",\"actor\":{\"id\":\"\"}," RES "}", INV, 64, "actor.id", "non-empty" },
	{ "actor_id_number", "{" TIME "," ACT ",\"actor\":{\"id\":7}," RES "}", INV, 64, "actor.id", "expected string, found number" },
	{ "actor_ip_bool", "{" TIME "," ACT ",\"actor\":{\"id\":\"u\",\"ip\":true}," RES "}", INV, 73, "actor.ip", "found boolean" },
	{ "resource_type_null", "{" TIME "," ACT "," ACTOR ",\"resource\":{\"type\":null}}", INV, 89, "resource.type", "found null" },
	{ "outcome_bad", "{" TIME "," ACT "," ACTOR "," RES ",\"outcome\":\"ok\"}", INV, 104, "outcome", "expected one of" },
	{ "outcome_case", "{" TIME "," ACT "," ACTOR "," RES ",\"outcome\":\"Success\"}", INV, 104, "outcome", NULL },
	{ "outcome_escaped_ok", "{" TIME "," ACT "," ACTOR "," RES ",\"outcome\":\"\\u0073uccess\"}", OK, 0, "", NULL },
	{ "tenant_bad_char", "{" TIME "," ACT "," ACTOR "," RES ",\"tenant\":\"a/b\"}", INV, 103, "tenant", "[A-Za-z0-9_.-]{1,64}" },
	{ "tenant_empty", "{" TIME "," ACT "," ACTOR "," RES ",\"tenant\":\"\"}", INV, 103, "tenant", NULL },
	{ "tenant_65", "{" TIME "," ACT "," ACTOR "," RES ",\"tenant\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", INV, 103, "tenant", NULL },
	{ "tenant_64", "{" TIME "," ACT "," ACTOR "," RES ",\"tenant\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", OK, 0, "", NULL },
	{ "id_empty", "{\"id\":\"\"," TIME "," ACT "," ACTOR "," RES "}", INV, 6, "id", "1 to 128" },
	{ "id_control_escape", "{\"id\":\"a\\u0001\"," TIME "," ACT "," ACTOR "," RES "}", INV, 6, "id", "control character 0x01" },
	{ "id_number", "{\"id\":5," TIME "," ACT "," ACTOR "," RES "}", INV, 6, "id", "expected string, found number" },
	{ "unknown_member", "{" TIME "," ACT "," ACTOR "," RES ",\"colour\":1}", INV, 94, "colour", "unknown top-level member \"colour\"" },
	{ "unknown_member_first", "{\"x\":1," TIME "," ACT "," ACTOR "," RES "}", INV, 1, "x", "unknown" },
	{ "server_seq", "{\"seq\":1," TIME "," ACT "," ACTOR "," RES "}", INV, 1, "seq", "server field" },
	{ "server_received_at", "{" TIME ",\"received_at\":\"x\"," ACT "," ACTOR "," RES "}", INV, 35, "received_at", "server field" },
	{ "server_tseq", "{" TIME "," ACT "," ACTOR "," RES ",\"tseq\":1}", INV, 94, "tseq", NULL },
	{ "server_tprev", "{" TIME "," ACT "," ACTOR "," RES ",\"tprev\":\"\"}", INV, 94, "tprev", NULL },
	{ "server_producer", "{" TIME "," ACT "," ACTOR "," RES ",\"producer\":\"p\"}", INV, 94, "producer", NULL },
	{ "server_escaped", "{" TIME "," ACT "," ACTOR "," RES ",\"s\\u0065q\":1}", INV, 94, "s\\u0065q", "server field" },
	{ "dup_action", "{" TIME "," ACT "," ACTOR "," RES ",\"action\":\"x\"}", INV, 94, "action", "duplicate key \"action\" (first at byte 35)" },
	{ "metadata_array", "{" TIME "," ACT "," ACTOR "," RES ",\"metadata\":[]}", INV, 105, "metadata", "expected object, found array" },
	{ "source_string", "{" TIME "," ACT "," ACTOR "," RES ",\"source\":\"s\"}", INV, 103, "source", NULL },
	{ "metadata_nested_path", "{" TIME "," ACT "," ACTOR "," RES ",\"metadata\":{\"tags\":[1,2,3,\"\\q\"]}}", INV, 121, "metadata.tags[3]", "invalid escape" },
	{ "nested_actor_unknown_ok", "{" TIME "," ACT ",\"actor\":{\"id\":\"u\",\"anything\":{\"id\":5}}," RES "}", OK, 0, "", NULL },
	{ "reason_object", "{" TIME "," ACT "," ACTOR "," RES ",\"reason\":{}}", INV, 103, "reason", "expected string, found object" },
};

static void run_fields(void)
{
	struct buf out = BUF_INIT(1 << 16);

	for (size_t i = 0; i < ARRAY_SIZE(fcases); i++) {
		const struct fcase *c = &fcases[i];
		struct event_error err;
		struct event_info info;
		char msg[400];

		buf_reset(&out);
		int rc = event_parse((const uint8_t *)c->in, strlen(c->in), NULL, &out, &info, &err);
		event_error_format(&err, msg, sizeof(msg));
		CHECK_MSG(rc == c->code, "%s: rc %d, expected %d (%s)", c->name, rc, c->code,
			  rc ? msg : "accepted");
		if (rc == 0) {
			CHECK_MSG(out.len == strlen(c->in), "%s", c->name);
			continue;
		}
		CHECK_MSG(out.len == 0, "%s", c->name);
		CHECK_MSG(err.offset == c->off, "%s: offset %zu, expected %zu (%s)", c->name,
			  err.offset, c->off, msg);
		CHECK_MSG(strcmp(err.path, c->path) == 0, "%s: path \"%s\", expected \"%s\"", c->name,
			  err.path, c->path);
		if (c->msg)
			CHECK_MSG(strstr(err.msg, c->msg) != NULL, "%s: message \"%s\" lacks \"%s\"",
				  c->name, err.msg, c->msg);
	}
	buf_release(&out);
}

int main(void)
{
	run_cases();
	run_fields();
	return test_report("test_json_conformance");
}
