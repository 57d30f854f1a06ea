/* test-json.c — JSON text in and out: depth limit and number formatting.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-util.h"

static char *
nested (guint depth)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < depth; i++)
    g_string_append_c (text, '[');
  for (guint i = 0; i < depth; i++)
    g_string_append_c (text, ']');
  return g_string_free (text, FALSE);
}

static void
test_depth_limit (void)
{
  g_autofree char *ok = nested (SLUICE_JSON_MAX_DEPTH);
  g_autofree char *deep = nested (200000);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = sluice_json_from_string (ok, -1, &error);
  g_autoptr(JsonNode) refused = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (node);

  /* 200,000 levels would overflow json-glib's recursive parser. */
  refused = sluice_json_from_string (deep, -1, &error);
  g_assert_null (refused);
  g_assert_error (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_PARSE);
  g_assert_cmpstr (error->message, ==, "the JSON nests deeper than 512 levels");
}

/* json-glib also reads single-quoted strings and comments: a quote
 * hidden in either must not blind the depth check. */
static void
test_depth_limit_cannot_be_hidden (void)
{
  g_autofree char *deep = nested (100000);
  const char *prefixes[] = { "{\"t\": 'x\"', \"a\": ", "{\"t\": \"x\", /* \" */ \"a\": " };

  for (guint i = 0; i < G_N_ELEMENTS (prefixes); i++)
    {
      g_autofree char *text = g_strconcat (prefixes[i], deep, "}", NULL);
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) node = sluice_json_from_string (text, -1, &error);

      g_assert_null (node);
      g_assert_error (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_PARSE);
      g_assert_cmpstr (error->message, ==, "the JSON nests deeper than 512 levels");
    }
}

/* json-glib keeps the first of several values and drops the rest: a
 * batch line holding two jobs would lose one. */
static void
test_trailing_values_refused (void)
{
  const char *bad[] = { "{\"a\": 1}{\"b\": 2}", "[1] 2", "\"a\" \"b\"", "1 2", "{} []" };
  const char *good[] = { "{\"a\": \"}{\"}", " {\"a\": 1}  \n", "[1]", "42", "\"x\"", "{} /* note */" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) node = sluice_json_from_string (bad[i], -1, &error);

      g_assert_null (node);
      g_assert_nonnull (strstr (error->message, "unexpected text after the JSON value"));
    }
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) node = sluice_json_from_string (good[i], -1, &error);

      g_assert_no_error (error);
      g_assert_nonnull (node);
    }
}

static void
test_brackets_in_strings_do_not_count (void)
{
  g_autoptr(GString) text = g_string_new ("{\"a\": \"");
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;

  for (guint i = 0; i < 10000; i++)
    g_string_append (text, "[{\\\"");
  g_string_append (text, "\"}");
  node = sluice_json_from_string (text->str, -1, &error);
  g_assert_no_error (error);
  g_assert_nonnull (node);
}

static void
assert_round_trip (const char *in,
                   const char *expected)
{
  g_autoptr(JsonNode) node = sluice_json_from_string (in, -1, NULL);
  g_autofree char *out = NULL;

  g_assert_nonnull (node);
  out = sluice_json_to_string (node);
  g_assert_cmpstr (out, ==, expected);
}

static void
test_shortest_numbers (void)
{
  assert_round_trip ("{\"confidence\": 0.73}", "{\"confidence\":0.73}");
  assert_round_trip ("[0.1, 2.5e-05, 1e300, -0.0, 3, 1.0, 123456789012345678]",
                     "[0.1,2.5e-05,1e+300,-0,3,1,123456789012345678]");
  assert_round_trip ("[0.30000000000000004]", "[0.30000000000000004]");
}

static void
assert_refused (const char *text,
                const char *message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) check_error = NULL;
  g_autoptr(JsonNode) node = sluice_json_from_string (text, -1, &error);

  g_assert_null (node);
  g_assert_error (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_INVALID_DATA);
  g_assert_cmpstr (error->message, ==, message);
  g_assert_false (sluice_json_check_text (text, -1, &check_error));
  g_assert_cmpstr (check_error->message, ==, message);
}

/* json-glib wraps integers beyond 64 bits around and turns 1e400 into
 * infinity (written as null): refused, naming the literal and where. */
static void
test_numbers_out_of_range (void)
{
  assert_refused ("{\"n\": -9223372036854775809}",
                  "the integer -9223372036854775809 (at byte 6) does not fit in 64 bits "
                  "(-9223372036854775808 to 9223372036854775807); send it as a string");
  assert_refused ("{\"n\": 123456789012345678901234567890}",
                  "the integer 123456789012345678901234567890 (at byte 6) does not fit in 64 bits "
                  "(-9223372036854775808 to 9223372036854775807); send it as a string");
  assert_refused ("[1, 9223372036854775808]",
                  "the integer 9223372036854775808 (at byte 4) does not fit in 64 bits "
                  "(-9223372036854775808 to 9223372036854775807); send it as a string");
  assert_refused ("{\"custom_id\": 12345678901234567890}",
                  "the integer 12345678901234567890 (at byte 14) does not fit in 64 bits "
                  "(-9223372036854775808 to 9223372036854775807); send it as a string");
  assert_refused ("{\"n\": 1e400}",
                  "the number 1e400 (at byte 6) is beyond what a double holds "
                  "(it would become infinity); send it as a string");
  assert_refused ("[-1.5E+309]",
                  "the number -1.5E+309 (at byte 1) is beyond what a double holds "
                  "(it would become infinity); send it as a string");
  assert_refused ("[1e-400]",
                  "the number 1e-400 (at byte 1) is beyond what a double holds "
                  "(it would become 0); send it as a string");
  assert_refused ("1e999",
                  "the number 1e999 (at byte 0) is beyond what a double holds "
                  "(it would become infinity); send it as a string");
  /* a literal of a megabyte is not quoted whole */
  {
    g_autofree char *digits = g_strnfill (100000, '7');
    g_autofree char *text = g_strdup_printf ("{\"n\": %s}", digits);

    assert_refused (text, "the integer 77777777777777777777777777777777… (100000 characters) (at byte 6) "
                          "does not fit in 64 bits (-9223372036854775808 to 9223372036854775807); "
                          "send it as a string");
  }
}

static void
test_numbers_at_the_limits (void)
{
  assert_round_trip ("[-9223372036854775808, 9223372036854775807, -0, 0, 0.0, 1.7976931348623157e308, "
                     "5e-324, 0e-5000, 0.000e999, 1E2, 1e+2, -1.25e-2]",
                     "[-9223372036854775808,9223372036854775807,0,0,0,1.7976931348623157e+308,"
                     "5e-324,0,0,100,100,-0.0125]");
}

/* json-glib reads 02134 as octal 1116, 0x10 as 16, and takes .5, 1., "- 1" */
static void
test_numbers_json_grammar (void)
{
  assert_refused ("{\"zip\": 02134}",
                  "02134 (at byte 8) is not a JSON number: a number may not start with 0 "
                  "(json-glib would read it as octal)");
  assert_refused ("[-01]",
                  "-01 (at byte 1) is not a JSON number: a number may not start with 0 "
                  "(json-glib would read it as octal)");
  assert_refused ("[00]",
                  "00 (at byte 1) is not a JSON number: a number may not start with 0 "
                  "(json-glib would read it as octal)");
  assert_refused ("{\"n\": 0x10}", "0x10 (at byte 6) is not a JSON number: hexadecimal is not JSON");
  assert_refused ("[.5]", ".5 (at byte 1) is not a JSON number: a number needs a digit before the .");
  assert_refused ("[-.5]", "-.5 (at byte 1) is not a JSON number: a number needs a digit before the .");
  assert_refused ("[1.]", "1. (at byte 1) is not a JSON number: a number needs a digit after the .");
  assert_refused ("[1.e5]", "1.e5 (at byte 1) is not a JSON number: a number needs a digit after the .");
  assert_refused ("[+1]", "+1 (at byte 1) is not a JSON number: a number may not start with +");
  assert_refused ("[- 1]", "- (at byte 1) is not a JSON number: a number needs a digit after the -");
  assert_refused ("[1e]", "1e (at byte 1) is not a JSON number: a number needs digits after the exponent's e");
  assert_refused ("[1e+]", "1e+ (at byte 1) is not a JSON number: a number needs digits after the exponent's e");
  assert_refused ("[-Infinity]",
                  "-Infinity (at byte 1) is not a JSON number: a number needs a digit after the -");
  assert_refused ("[1_000]", "1_000 (at byte 1) is not a JSON number: this is not a JSON number");
  assert_refused ("{\"a\": [1, 2, 3.5.1]}",
                  "3.5.1 (at byte 13) is not a JSON number: this is not a JSON number");
  /* digits inside strings, keys and comments are not numbers */
  assert_round_trip ("{\"02134\": \"0x10 .5 1e400\", 'k': '007' /* 09 */}",
                     "{\"02134\":\"0x10 .5 1e400\",\"k\":\"007\"}");
}

/* json-glib's strings end at the first NUL: "x\u0000y" would become "x" */
static void
test_nul_refused (void)
{
  static const char raw[] = "{\"a\": \"x\0y\"}";
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;

  assert_refused ("{\"a\": \"x\\u0000y\"}",
                  "the string at byte 6 holds a NUL character (at byte 8), which sluice cannot keep");
  assert_refused ("{\"k\\u0000\": 1}",
                  "the string at byte 1 holds a NUL character (at byte 3), which sluice cannot keep");
  assert_refused ("['\\u0000']",
                  "the string at byte 1 holds a NUL character (at byte 2), which sluice cannot keep");
  node = sluice_json_from_string (raw, sizeof raw - 1, &error);
  g_assert_null (node);
  g_assert_error (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_INVALID_DATA);
  g_assert_cmpstr (error->message, ==,
                   "the string at byte 6 holds a NUL character (at byte 8), which sluice cannot keep");
  g_clear_error (&error);
  node = sluice_json_from_string ("{\"a\": 1}\0 junk", 14, &error);
  g_assert_null (node);
  g_assert_cmpstr (error->message, ==, "the JSON text holds a NUL byte (at byte 8)");
  /* an escaped backslash before u0000 is not a NUL; \u0001 is kept */
  assert_round_trip ("[\"\\\\u0000\", \"\\u0001\"]", "[\"\\\\u0000\",\"\\u0001\"]");
}

static void
test_strings_and_order (void)
{
  assert_round_trip ("{\"z\": 1, \"a\": \"line\\nbreak \\\"q\\\" \\\\ \\u0001 é\"}",
                     "{\"z\":1,\"a\":\"line\\nbreak \\\"q\\\" \\\\ \\u0001 é\"}");
}

static void
test_pretty (void)
{
  g_autoptr(JsonNode) node = sluice_json_from_string ("{\"a\": [1, {}], \"b\": []}", -1, NULL);
  g_autofree char *out = sluice_json_to_string_full (node, TRUE);

  g_assert_cmpstr (out, ==, "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": []\n}");
}

/* Doubles print as the fewest digits that read back the same, in plain
 * decimals between 1e-4 and 1e17 (a prompt shows 120, not 1.2e+02). */
static void
test_double_text (void)
{
  static const struct { double value; const char *text; } cases[] = {
    { 120.0, "120" }, { 2500.0, "2500" }, { 10.0, "10" }, { 0.5, "0.5" }, { 0.001, "0.001" },
    { 1234.5678, "1234.5678" }, { 0.000001, "1e-06" }, { 1e21, "1e+21" }, { -1500.0, "-1500" },
    { 0.1 + 0.2, "0.30000000000000004" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GString) out = g_string_new (NULL);

      sluice_json_append_double (out, cases[i].value);
      g_assert_cmpstr (out->str, ==, cases[i].text);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/json/double-text", test_double_text);
  g_test_add_func ("/json/depth-limit", test_depth_limit);
  g_test_add_func ("/json/numbers-out-of-range", test_numbers_out_of_range);
  g_test_add_func ("/json/numbers-at-the-limits", test_numbers_at_the_limits);
  g_test_add_func ("/json/numbers-json-grammar", test_numbers_json_grammar);
  g_test_add_func ("/json/nul-refused", test_nul_refused);
  g_test_add_func ("/json/brackets-in-strings", test_brackets_in_strings_do_not_count);
  g_test_add_func ("/json/depth-limit-cannot-be-hidden", test_depth_limit_cannot_be_hidden);
  g_test_add_func ("/json/trailing-values", test_trailing_values_refused);
  g_test_add_func ("/json/shortest-numbers", test_shortest_numbers);
  g_test_add_func ("/json/strings-and-order", test_strings_and_order);
  g_test_add_func ("/json/pretty", test_pretty);
  return g_test_run ();
}
