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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/json/depth-limit", test_depth_limit);
  g_test_add_func ("/json/brackets-in-strings", test_brackets_in_strings_do_not_count);
  g_test_add_func ("/json/depth-limit-cannot-be-hidden", test_depth_limit_cannot_be_hidden);
  g_test_add_func ("/json/trailing-values", test_trailing_values_refused);
  g_test_add_func ("/json/shortest-numbers", test_shortest_numbers);
  g_test_add_func ("/json/strings-and-order", test_strings_and_order);
  g_test_add_func ("/json/pretty", test_pretty);
  return g_test_run ();
}
