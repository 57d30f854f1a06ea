/* test-parse-extract.c — the parse stage's extraction and repair scanner,
 * on its own (compiled from the plugin's source): every candidate kind,
 * every repair with the exact JSON it gives and the repairs it reports,
 * what a cut answer becomes, and the bounds (depth, candidates).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-parse-extract.h"

#include <string.h>

static char *
names_of (guint repairs)
{
  g_autofree const char **names = sluice_parse_repair_names (repairs);

  return g_strjoinv (",", (char **) names);
}

/* Extracts from @text with @flags; asserts the value @expected (compact
 * JSON, NULL: nothing), the source and the repairs (comma-separated). */
static void
check_with (const char            *text,
            SluiceParseFlags       flags,
            SluiceParseAcceptFunc  accept,
            const char            *expected,
            const char            *source,
            const char            *repairs,
            guint                  candidate,
            guint                  n_candidates)
{
  SluiceParseResult result = { SLUICE_PARSE_FROM_WHOLE, 0xffff, 99, 99 };
  g_autoptr(JsonNode) node = sluice_parse_extract (text, strlen (text), flags, accept, NULL, &result);
  g_autofree char *json = node != NULL ? sluice_json_to_string (node) : NULL;
  g_autofree char *made_names = names_of (result.repairs);

  g_test_message ("%s", text);
  g_assert_cmpstr (json, ==, expected);
  if (expected == NULL)
    {
      g_assert_cmpuint (result.repairs, ==, 0);
      g_assert_cmpuint (result.n_candidates, ==, 0);
      return;
    }
  g_assert_cmpstr (sluice_parse_source_name (result.source), ==, source);
  g_assert_cmpstr (made_names, ==, repairs);
  g_assert_cmpuint (result.candidate, ==, candidate);
  g_assert_cmpuint (result.n_candidates, ==, n_candidates);
}

static void
check (const char       *text,
       SluiceParseFlags  flags,
       const char       *expected,
       const char       *source,
       const char       *repairs)
{
  SluiceParseResult result;
  g_autoptr(JsonNode) node = sluice_parse_extract (text, strlen (text), flags, NULL, NULL, &result);

  check_with (text, flags, NULL, expected, source, repairs,
              node != NULL ? result.candidate : 0, node != NULL ? result.n_candidates : 0);
}

static void
test_extract_strict (void)
{
  check ("{\"a\":1}", SLUICE_PARSE_STRICT, "{\"a\":1}", "whole", "");
  check ("  [1, 2]\n", SLUICE_PARSE_STRICT, "[1,2]", "whole", "");
  check ("Here you go:\n```json\n{\"a\": 1}\n```\nThanks!", SLUICE_PARSE_STRICT, "{\"a\":1}", "fence", "");
  check ("```JSON\n{\"a\": 1}\n```", SLUICE_PARSE_STRICT, "{\"a\":1}", "fence", "");
  check ("Result:\n```\n{\"a\": 2}\n```", SLUICE_PARSE_STRICT, "{\"a\":2}", "fence", "");
  /* A ```json block wins over an earlier plain one. */
  check ("```\n{\"x\": 0}\n```\nbut really:\n```json\n{\"a\": 1}\n```", SLUICE_PARSE_STRICT,
         "{\"a\":1}", "fence", "");
  /* A fence that is not JSON is passed over for the value after it. */
  check ("```python\nprint('hi')\n```\nThe answer: {\"a\": 3}", SLUICE_PARSE_STRICT, "{\"a\":3}", "prose", "");
  /* Braces and escaped quotes inside strings do not count. */
  check ("Sure! The answer is {\"a\": \"}\"} and that is all.", SLUICE_PARSE_STRICT, "{\"a\":\"}\"}", "prose", "");
  check ("Result: {\"q\": \"say \\\"hi\\\" {\"} done", SLUICE_PARSE_STRICT, "{\"q\":\"say \\\"hi\\\" {\"}", "prose", "");
  /* Of the balanced values that parse, the last (no schema to choose by). */
  check_with ("I think {maybe} but {\"a\": 1} or {\"b\": 2}", SLUICE_PARSE_STRICT, NULL, "{\"b\":2}", "prose", "", 2, 2);
  check ("List: [1, 2, 3].", SLUICE_PARSE_STRICT, "[1,2,3]", "prose", "");
  /* Nothing: no value, a broken value without repair. */
  check ("no json here", SLUICE_PARSE_STRICT, NULL, NULL, NULL);
  check ("", SLUICE_PARSE_STRICT, NULL, NULL, NULL);
  check ("{\"a\": 1,}", SLUICE_PARSE_STRICT, NULL, NULL, NULL);
  check ("{\"a\": \"cut", SLUICE_PARSE_STRICT, NULL, NULL, NULL);
  /* json-glib alone would take these: without repair they are refused. */
  check ("{'a': 1}", SLUICE_PARSE_STRICT, NULL, NULL, NULL);
  check ("{\"a\": 'x'}", SLUICE_PARSE_STRICT, NULL, NULL, NULL);
  check ("{\"a\": /* x */ 1}", SLUICE_PARSE_STRICT, NULL, NULL, NULL);
  check ("{\"a\": 0x10}", SLUICE_PARSE_STRICT, NULL, NULL, NULL);
  check ("{\"a\": 0x10}", SLUICE_PARSE_REPAIR, NULL, NULL, NULL);
  /* A value followed by prose is not the whole text. */
  check ("{\"a\": 1} is my answer", SLUICE_PARSE_STRICT, "{\"a\":1}", "prose", "");
}

/* Only the first 16 starts are tried: a text of many brackets stays cheap. */
static void
test_extract_bounded (void)
{
  g_autoptr(GString) text = g_string_new (NULL);

  for (guint i = 0; i < 15; i++)
    g_string_append (text, "{x} ");
  g_string_append (text, "{\"a\": 1}");
  check (text->str, SLUICE_PARSE_STRICT, "{\"a\":1}", "prose", "");
  g_string_prepend (text, "{x} ");
  check (text->str, SLUICE_PARSE_STRICT, NULL, NULL, NULL);
}

static void
test_repairs (void)
{
  /* A clean value is taken as it is, repair or not. */
  check ("{\"a\": 1}", SLUICE_PARSE_REPAIR, "{\"a\":1}", "whole", "");
  check ("{\"a\": 1, \"b\": [1, 2,],}", SLUICE_PARSE_REPAIR, "{\"a\":1,\"b\":[1,2]}", "whole", "trailing_comma");
  check ("{'a': 'it\\'s \"x\"'}", SLUICE_PARSE_REPAIR, "{\"a\":\"it's \\\"x\\\"\"}", "whole", "single_quotes");
  check ("{a: 1, b_c: {d: true}}", SLUICE_PARSE_REPAIR, "{\"a\":1,\"b_c\":{\"d\":true}}", "whole", "unquoted_keys");
  check ("{\"a\": True, \"b\": None, \"c\": [False]}", SLUICE_PARSE_REPAIR,
         "{\"a\":true,\"b\":null,\"c\":[false]}", "whole", "python_literals");
  /* Raw newlines in strings pass as they are (json-glib takes them). */
  check ("{\"a\": \"line 1\nline 2\",}", SLUICE_PARSE_REPAIR, "{\"a\":\"line 1\\nline 2\"}", "whole",
         "trailing_comma");
  check ("{\"a\": 1, // the count\n \"b\": /* two */ 2}", SLUICE_PARSE_REPAIR, "{\"a\":1,\"b\":2}", "whole", "comments");
  check ("{\"a\": 1, // the count\n \"b\": /* two */ 2}", SLUICE_PARSE_STRICT, NULL, NULL, NULL);
  check ("{\"a\": 1 / 2}", SLUICE_PARSE_REPAIR, NULL, NULL, NULL);
  /* Several at once, in prose and in a fence. */
  check ("Sure:\n```json\n{sentiment: 'positive', confidence: 0.9,}\n```", SLUICE_PARSE_REPAIR,
         "{\"sentiment\":\"positive\",\"confidence\":0.9}", "fence", "trailing_comma,single_quotes,unquoted_keys");
  check ("The answer is {'a': [1, 2,]} I hope.", SLUICE_PARSE_REPAIR, "{\"a\":[1,2]}", "prose",
         "trailing_comma,single_quotes");
  /* What the scanner does not guess at. */
  check ("{\"a\": yes}", SLUICE_PARSE_REPAIR, NULL, NULL, NULL);
  check ("{\"a\": 1]", SLUICE_PARSE_REPAIR, NULL, NULL, NULL);
  check ("{\"a\" 1}", SLUICE_PARSE_REPAIR, NULL, NULL, NULL);
  check ("{\"a\": 1,, \"b\": 2}", SLUICE_PARSE_REPAIR, NULL, NULL, NULL);
  check ("{\"a\":}", SLUICE_PARSE_REPAIR, NULL, NULL, NULL);
  /* A cut value is not closed without SLUICE_PARSE_CLOSE_TRUNCATED. */
  check ("{\"a\": \"hel", SLUICE_PARSE_REPAIR, NULL, NULL, NULL);
  check ("[1, 2", SLUICE_PARSE_REPAIR, NULL, NULL, NULL);
}

static void
test_close_truncated (void)
{
  const SluiceParseFlags close = SLUICE_PARSE_REPAIR | SLUICE_PARSE_CUT | SLUICE_PARSE_CLOSE_TRUNCATED;

  check ("{\"a\": \"hel", close, "{\"a\":\"hel\"}", "whole", "closed_string,closed_brackets");
  check ("{\"a\": {\"b\": [\"x\", \"y", close, "{\"a\":{\"b\":[\"x\",\"y\"]}}", "whole",
         "closed_string,closed_brackets");
  /* A number or word at the cut may itself be cut: its member goes. */
  check ("{\"a\": 1, \"b\": [1, 2", close, "{\"a\":1,\"b\":[1]}", "whole", "dropped_partial_member,closed_brackets");
  check ("{\"a\": {\"b\": [true, fal", close, "{\"a\":{\"b\":[true]}}", "whole", "dropped_partial_member,closed_brackets");
  /* A key without its value goes, and the string closed in it is not reported. */
  check ("{\"a\": 1, \"b", close, "{\"a\":1}", "whole", "dropped_partial_member,closed_brackets");
  check ("{\"a\": 1, \"b\":", close, "{\"a\":1}", "whole", "dropped_partial_member,closed_brackets");
  check ("{\"a\": 1, \"b\"", close, "{\"a\":1}", "whole", "dropped_partial_member,closed_brackets");
  /* A comma at the cut. */
  check ("{\"a\": 1, ", close, "{\"a\":1}", "whole", "trailing_comma,closed_brackets");
  check ("Here it is:\n```json\n{\"items\": [\"a\", \"b\"],\n \"note\": \"cut her", close,
         "{\"items\":[\"a\",\"b\"],\"note\":\"cut her\"}", "fence", "closed_string,closed_brackets");
  /* A value that only needs a syntax repair wins over closing a cut one;
   * and what comes after a value that never closes is inside it. */
  check ("{'a': 1} and then {\"b\": \"cut", close, "{\"a\":1}", "prose", "single_quotes");
  check ("Notes {\"x\": \"never closed ... Answer: {'a': 1}", close,
         "{\"x\":\"never closed ... Answer: {'a': 1}\"}", "prose", "closed_string,closed_brackets");
}

/* A cut answer: the array inside the object the cut left open is not
 * the answer, with or without repair; an answer that was not cut keeps
 * the old reading (the first balanced value). */
static void
test_cut_answer (void)
{
  const char *text = "Here it is: {\"items\": [\"a\", \"b\"], \"note\": \"cut her";

  check (text, SLUICE_PARSE_STRICT, "[\"a\",\"b\"]", "prose", "");
  check (text, SLUICE_PARSE_CUT, NULL, NULL, NULL);
  check (text, SLUICE_PARSE_CUT | SLUICE_PARSE_REPAIR, NULL, NULL, NULL);
  check (text, SLUICE_PARSE_CUT | SLUICE_PARSE_REPAIR | SLUICE_PARSE_CLOSE_TRUNCATED,
         "{\"items\":[\"a\",\"b\"],\"note\":\"cut her\"}", "prose", "closed_string,closed_brackets");
  /* A value before the cut one is still found. */
  check ("First {\"a\": 1} then {\"b\": [2", SLUICE_PARSE_CUT, "{\"a\":1}", "prose", "");
}

/* Only top-level values are candidates: a clean inner object never wins
 * over an outer one with a fixable flaw, repaired or not. */
static void
test_nested (void)
{
  const char *comma = "{\"name\": \"Ada Lovelace\", \"kind\": \"person\", "
                      "\"spouse\": {\"name\": \"William King\", \"kind\": \"person\"},}";
  const char *python = "Here: {\"name\": \"Ada\", \"alive\": False, \"spouse\": {\"name\": \"William\"}} ok";

  check (comma, SLUICE_PARSE_REPAIR,
         "{\"name\":\"Ada Lovelace\",\"kind\":\"person\",\"spouse\":{\"name\":\"William King\",\"kind\":\"person\"}}",
         "whole", "trailing_comma");
  check (comma, SLUICE_PARSE_STRICT, NULL, NULL, NULL);
  check (python, SLUICE_PARSE_REPAIR, "{\"name\":\"Ada\",\"alive\":false,\"spouse\":{\"name\":\"William\"}}",
         "prose", "python_literals");
  check (python, SLUICE_PARSE_STRICT, NULL, NULL, NULL);
  /* In a fence too. */
  check ("```json\n{\"a\": {\"b\": 1}, 'c': 2}\n```", SLUICE_PARSE_STRICT, NULL, NULL, NULL);
  /* Each top-level span is repaired before the next is tried. */
  check_with ("First {'a': {\"x\": 1}} then {\"b\": 2}", SLUICE_PARSE_REPAIR, NULL, "{\"b\":2}", "prose", "", 2, 2);
  check_with ("First {\"b\": 2} then {'a': {\"x\": 1}}", SLUICE_PARSE_REPAIR, NULL, "{\"a\":{\"x\":1}}", "prose",
              "single_quotes", 2, 2);
}

static gboolean
has_answer (JsonNode *value,
            gpointer  user_data)
{
  return JSON_NODE_HOLDS_OBJECT (value) && json_object_has_member (json_node_get_object (value), "answer");
}

/* Reasoning blocks are not the answer; of several values the first the
 * schema takes wins, else the last amid prose. */
static void
test_reasoning_and_choice (void)
{
  check ("<think>Maybe {\"answer\": 1}? No.</think>\n{\"answer\": 2}", SLUICE_PARSE_STRICT, "{\"answer\":2}",
         "whole", "");
  check ("<thinking>{\"x\": 1}</thinking> The answer: {\"answer\": 2}", SLUICE_PARSE_STRICT, "{\"answer\":2}",
         "prose", "");
  check ("<reasoning>[1]</reasoning><think>[2]</think>[3]", SLUICE_PARSE_STRICT, "[3]", "whole", "");
  /* Unclosed at the start: no answer yet. */
  check ("<think>I will answer {\"answer\": 1} once I", SLUICE_PARSE_STRICT, NULL, NULL, NULL);
  check ("  <think>{\"answer\": 1}", SLUICE_PARSE_REPAIR | SLUICE_PARSE_CUT | SLUICE_PARSE_CLOSE_TRUNCATED,
         NULL, NULL, NULL);
  /* Unclosed later: kept as text. */
  check ("{\"answer\": 1} <think>", SLUICE_PARSE_STRICT, "{\"answer\":1}", "prose", "");

  /* An example, then the answer: the schema chooses, else the last. */
  check_with ("For example {\"x\": 1}; so: {\"answer\": 2}. Compare {\"y\": 3}.", SLUICE_PARSE_STRICT, has_answer,
              "{\"answer\":2}", "prose", "", 2, 3);
  check_with ("For example {\"x\": 1}; so: {\"y\": 3}.", SLUICE_PARSE_STRICT, has_answer,
              "{\"y\":3}", "prose", "", 2, 2);
  check_with ("```json\n{\"x\": 1}\n```\n```json\n{\"answer\": 2}\n```", SLUICE_PARSE_STRICT, has_answer,
              "{\"answer\":2}", "fence", "", 2, 2);
  /* Fences without a fit: the first. */
  check_with ("```json\n{\"x\": 1}\n```\n```json\n{\"y\": 2}\n```", SLUICE_PARSE_STRICT, has_answer,
              "{\"x\":1}", "fence", "", 1, 2);
}

/* Any JSON value as the whole text; bare text only when asked for. */
static void
test_scalars (void)
{
  check ("42", SLUICE_PARSE_STRICT, "42", "whole", "");
  check (" \"spam\"\n", SLUICE_PARSE_STRICT, "\"spam\"", "whole", "");
  check ("-1.5e3", SLUICE_PARSE_STRICT, "-1500", "whole", "");
  check ("true", SLUICE_PARSE_STRICT, "true", "whole", "");
  check ("null", SLUICE_PARSE_STRICT, "null", "whole", "");
  check ("'spam'", SLUICE_PARSE_STRICT, NULL, NULL, NULL);
  check ("NaN", SLUICE_PARSE_REPAIR, NULL, NULL, NULL);
  check ("spam", SLUICE_PARSE_STRICT, NULL, NULL, NULL);
  check ("The answer is 42", SLUICE_PARSE_STRICT, NULL, NULL, NULL);
  check ("  spam \n", SLUICE_PARSE_BARE_STRING, "\"spam\"", "bare_text", "");
  check ("<think>ham?</think> spam", SLUICE_PARSE_BARE_STRING, "\"spam\"", "bare_text", "");
  check ("spam\nor ham", SLUICE_PARSE_BARE_STRING, NULL, NULL, NULL);
  check ("{spam", SLUICE_PARSE_BARE_STRING, NULL, NULL, NULL);
  check ("", SLUICE_PARSE_BARE_STRING, NULL, NULL, NULL);
  /* JSON still wins over bare text. */
  check ("\"ham\"", SLUICE_PARSE_BARE_STRING, "\"ham\"", "whole", "");
}

/* The scanner refuses to nest deeper than SLUICE_PARSE_MAX_DEPTH. */
static void
test_depth_limit (void)
{
  for (guint depth = SLUICE_PARSE_MAX_DEPTH; depth <= SLUICE_PARSE_MAX_DEPTH + 1; depth++)
    {
      g_autoptr(GString) text = g_string_new (NULL);
      g_autofree char *repaired = NULL;
      const char *end = NULL;
      guint repairs = 0;

      for (guint i = 0; i < depth; i++)
        g_string_append_c (text, '[');
      g_string_append (text, "1,");
      for (guint i = 0; i < depth; i++)
        g_string_append_c (text, ']');
      g_string_append (text, " tail");
      repaired = sluice_parse_repair (text->str, text->len, SLUICE_PARSE_REPAIR, &repairs, &end);
      if (depth == SLUICE_PARSE_MAX_DEPTH)
        {
          g_assert_nonnull (repaired);
          g_assert_cmpuint (strlen (repaired), ==, 2 * depth + 1);
          g_assert_cmpuint (repairs, ==, SLUICE_PARSE_REPAIR_TRAILING_COMMA);
          g_assert_cmpstr (end, ==, " tail");
        }
      else
        {
          g_assert_null (repaired);
          g_assert_null (end);
        }
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/parse-extract/strict", test_extract_strict);
  g_test_add_func ("/parse-extract/bounded", test_extract_bounded);
  g_test_add_func ("/parse-extract/repairs", test_repairs);
  g_test_add_func ("/parse-extract/close-truncated", test_close_truncated);
  g_test_add_func ("/parse-extract/cut-answer", test_cut_answer);
  g_test_add_func ("/parse-extract/depth-limit", test_depth_limit);
  g_test_add_func ("/parse-extract/nested", test_nested);
  g_test_add_func ("/parse-extract/reasoning-and-choice", test_reasoning_and_choice);
  g_test_add_func ("/parse-extract/scalars", test_scalars);

  return g_test_run ();
}
