/* test-document.c: SluiceDocument (YAML/JSON loading with positions) and
 * SluiceDiagnostic */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "sluice-diagnostic-private.h"
#include "sluice-document-private.h"

static GPtrArray *
diagnostics_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_diagnostic_free);
}

/* All diagnostics, one per line, for assertion messages. */
static char *
diagnostics_text (GPtrArray *diags)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < diags->len; i++)
    {
      g_autofree char *line = sluice_diagnostic_to_string (g_ptr_array_index (diags, i));

      g_string_append_printf (s, "%s\n", line);
    }

  return g_string_free (s, FALSE);
}

static SluiceDocument *
load (const char *text,
      GPtrArray  *diags)
{
  return sluice_document_load_data (text, -1, "test.yaml", diags);
}

static SluiceDocument *
load_clean (const char *text)
{
  g_autoptr(GPtrArray) diags = diagnostics_new ();
  SluiceDocument *doc = load (text, diags);
  g_autofree char *all = diagnostics_text (diags);

  if (diags->len != 0)
    g_test_message ("unexpected diagnostics:\n%s", all);
  g_assert_cmpstr (all, ==, "");
  g_assert_nonnull (doc);

  return doc;
}

static void
assert_diag (GPtrArray  *diags,
             guint       i,
             guint       line,
             guint       column,
             gboolean    warning,
             const char *substring)
{
  const SluiceDiagnostic *d;
  g_autofree char *all = diagnostics_text (diags);

  if (i >= diags->len)
    g_test_message ("wanted diagnostic %u, have:\n%s", i, all);
  g_assert_cmpuint (i, <, diags->len);

  d = g_ptr_array_index (diags, i);
  if (strstr (d->message, substring) == NULL || d->line != line || d->column != column)
    g_test_message ("diagnostic %u wanted at %u:%u '%s'; have:\n%s", i, line, column, substring, all);
  g_assert_nonnull (strstr (d->message, substring));
  g_assert_cmpuint (d->line, ==, line);
  g_assert_cmpuint (d->column, ==, column);
  g_assert_cmpint (d->is_warning, ==, warning);
  g_assert_cmpstr (d->file, ==, "test.yaml");
}

static void
assert_locate (SluiceDocument *doc,
               const char     *pointer,
               guint           line,
               guint           column)
{
  guint l = 0, c = 0;

  if (!sluice_document_locate (doc, pointer, &l, &c))
    g_test_message ("cannot locate '%s'", pointer);
  g_assert_true (sluice_document_locate (doc, pointer, &l, &c));
  if (l != line || c != column)
    g_test_message ("'%s' at %u:%u, wanted %u:%u", pointer, l, c, line, column);
  g_assert_cmpuint (l, ==, line);
  g_assert_cmpuint (c, ==, column);
}

/* The document's own node at a JSON Pointer (only object names and array
 * indices, no escapes). */
static JsonNode *
node_at (SluiceDocument *doc,
         const char     *pointer)
{
  g_auto(GStrv) parts = g_strsplit (pointer, "/", -1);
  JsonNode *node = sluice_document_get_root (doc);

  g_assert_cmpstr (parts[0], ==, "");
  for (guint i = 1; parts[i] != NULL; i++)
    {
      if (JSON_NODE_HOLDS_OBJECT (node))
        node = json_object_get_member (json_node_get_object (node), parts[i]);
      else if (JSON_NODE_HOLDS_ARRAY (node))
        node = json_array_get_element (json_node_get_array (node), atoi (parts[i]));
      else
        node = NULL;
      if (node == NULL)
        g_test_message ("no node at '%s'", pointer);
      g_assert_nonnull (node);
    }

  return node;
}

/* ------------------------------------------------------------------ */

static const char *pipeline_yaml =
  "name: sentiment\n"                                         /* 1 */
  "version: 2\n"                                              /* 2 */
  "stages:\n"                                                 /* 3 */
  "  - validate-input: {}\n"                                  /* 4 */
  "  - call:\n"                                               /* 5 */
  "      retry: {max_attempts: 3, jitter: full}\n"            /* 6 */
  "      targets:\n"                                          /* 7 */
  "        - {provider: anthropic, timeout: 2.5}\n"           /* 8 */
  "        - provider: openai\n"                              /* 9 */
  "          stream: false\n"                                 /* 10 */
  "  - log: {sinks: [sqlite, jsonl], extra: null}\n";         /* 11 */

static const char *pipeline_json =
  "{\n"                                                       /* 1 */
  "  \"name\": \"sentiment\",\n"                              /* 2 */
  "  \"version\": 2,\n"                                       /* 3 */
  "  \"stages\": [\n"                                         /* 4 */
  "    {\"validate-input\": {}},\n"                           /* 5 */
  "    {\"call\": {\n"                                        /* 6 */
  "      \"retry\": {\"max_attempts\": 3, \"jitter\": \"full\"},\n" /* 7 */
  "      \"targets\": [\n"                                    /* 8 */
  "        {\"provider\": \"anthropic\", \"timeout\": 2.5},\n" /* 9 */
  "        {\"provider\": \"openai\",\n"                      /* 10 */
  "         \"stream\": false}\n"                             /* 11 */
  "      ]}},\n"                                              /* 12 */
  "    {\"log\": {\"sinks\": [\"sqlite\", \"jsonl\"], \"extra\": null}}\n" /* 13 */
  "  ]\n"                                                     /* 14 */
  "}\n";

static void
test_json_yaml_equal (void)
{
  g_autoptr(SluiceDocument) y = load_clean (pipeline_yaml);
  g_autoptr(SluiceDocument) j = load_clean (pipeline_json);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  guint line = 0, column = 0;

  g_assert_true (json_node_equal (sluice_document_get_root (y), sluice_document_get_root (j)));

  /* And both equal what json-glib's own parser makes of the JSON. */
  json_parser_load_from_data (parser, pipeline_json, -1, &error);
  g_assert_no_error (error);
  g_assert_true (json_node_equal (json_parser_get_root (parser), sluice_document_get_root (j)));

  g_assert_cmpint (json_node_get_int (node_at (y, "/version")), ==, 2);
  g_assert_cmpfloat (json_node_get_double (node_at (y, "/stages/1/call/targets/0/timeout")), ==, 2.5);
  g_assert_false (json_node_get_boolean (node_at (j, "/stages/1/call/targets/1/stream")));

  /* Members: the key's position. Elements and root: the value's. */
  assert_locate (y, "", 1, 1);
  assert_locate (y, "/name", 1, 1);
  assert_locate (y, "/stages", 3, 1);
  assert_locate (y, "/stages/1", 5, 5);
  assert_locate (y, "/stages/1/call/retry", 6, 7);
  assert_locate (y, "/stages/1/call/retry/jitter", 6, 32);
  assert_locate (y, "/stages/1/call/targets/0", 8, 11);
  assert_locate (y, "/stages/1/call/targets/1/stream", 10, 11);
  assert_locate (y, "/stages/2/log/sinks/1", 11, 27);

  assert_locate (j, "", 1, 1);
  assert_locate (j, "/name", 2, 3);
  assert_locate (j, "/stages/1", 6, 5);
  assert_locate (j, "/stages/1/call/retry", 7, 7);
  assert_locate (j, "/stages/1/call/retry/jitter", 7, 36);
  assert_locate (j, "/stages/1/call/targets/1/stream", 11, 10);
  assert_locate (j, "/stages/2/log/sinks/1", 13, 34);

  /* The value's own position, for a member. */
  g_assert_true (sluice_document_get_node_position (y, node_at (y, "/stages/1/call/retry"), &line, &column));
  g_assert_cmpuint (line, ==, 6);
  g_assert_cmpuint (column, ==, 14);
  g_assert_true (sluice_document_get_member_position (y, json_node_get_object (node_at (y, "/stages/1/call")),
                                                      "targets", &line, &column));
  g_assert_cmpuint (line, ==, 7);
  g_assert_cmpuint (column, ==, 7);
  g_assert_false (sluice_document_get_member_position (y, json_node_get_object (node_at (y, "/stages/1/call")),
                                                       "nope", &line, &column));

  /* Key order is kept. */
  {
    g_autoptr(GList) members = json_object_get_members (json_node_get_object (sluice_document_get_root (y)));

    g_assert_cmpstr (g_list_nth_data (members, 0), ==, "name");
    g_assert_cmpstr (g_list_nth_data (members, 1), ==, "version");
    g_assert_cmpstr (g_list_nth_data (members, 2), ==, "stages");
  }

  g_assert_cmpstr (sluice_document_get_filename (y), ==, "test.yaml");
}

static void
test_locate (void)
{
  g_autoptr(SluiceDocument) doc = load_clean ("a:\n"
                                              "  b/c: 1\n"
                                              "  d~e: [x, y]\n"
                                              "  '': empty\n"
                                              "list:\n"
                                              "  - 10\n"
                                              "  - 20\n");

  assert_locate (doc, "/a/b~1c", 2, 3);
  assert_locate (doc, "/a/d~0e/1", 3, 12);
  assert_locate (doc, "/a/", 4, 3);
  assert_locate (doc, "/list/1", 7, 5);
  /* Past what exists: the deepest existing prefix. */
  assert_locate (doc, "/a/missing/deeper", 1, 1);
  assert_locate (doc, "/list/2", 5, 1);
  assert_locate (doc, "/list/01", 5, 1);
  assert_locate (doc, "/list/1/x", 7, 5);
  assert_locate (doc, "/list/-", 5, 1);
  /* Malformed pointers name nothing. */
  g_assert_false (sluice_document_locate (doc, "a", NULL, NULL));
  g_assert_false (sluice_document_locate (doc, "/a/b~2c", NULL, NULL));
  g_assert_false (sluice_document_locate (doc, "/a~", NULL, NULL));
  /* NULL outputs are allowed. */
  g_assert_true (sluice_document_locate (doc, "/list", NULL, NULL));
}

typedef struct {
  const char *yaml;
  JsonNodeType node_type;
  GType value_type;
  const char *s;
  gint64 i;
  double d;
} TypingCase;

static void
test_scalar_typing (void)
{
  static const TypingCase cases[] = {
    { "~", JSON_NODE_NULL, 0, NULL, 0, 0 },
    { "null", JSON_NODE_NULL, 0, NULL, 0, 0 },
    { "Null", JSON_NODE_NULL, 0, NULL, 0, 0 },
    { "NULL", JSON_NODE_NULL, 0, NULL, 0, 0 },
    { "", JSON_NODE_NULL, 0, NULL, 0, 0 },
    { "nULL", JSON_NODE_VALUE, G_TYPE_STRING, "nULL", 0, 0 },
    { "true", JSON_NODE_VALUE, G_TYPE_BOOLEAN, NULL, 1, 0 },
    { "True", JSON_NODE_VALUE, G_TYPE_BOOLEAN, NULL, 1, 0 },
    { "TRUE", JSON_NODE_VALUE, G_TYPE_BOOLEAN, NULL, 1, 0 },
    { "false", JSON_NODE_VALUE, G_TYPE_BOOLEAN, NULL, 0, 0 },
    { "FALSE", JSON_NODE_VALUE, G_TYPE_BOOLEAN, NULL, 0, 0 },
    { "tRUE", JSON_NODE_VALUE, G_TYPE_STRING, "tRUE", 0, 0 },
    { "yes", JSON_NODE_VALUE, G_TYPE_STRING, "yes", 0, 0 },
    { "no", JSON_NODE_VALUE, G_TYPE_STRING, "no", 0, 0 },
    { "on", JSON_NODE_VALUE, G_TYPE_STRING, "on", 0, 0 },
    { "off", JSON_NODE_VALUE, G_TYPE_STRING, "off", 0, 0 },
    { "Y", JSON_NODE_VALUE, G_TYPE_STRING, "Y", 0, 0 },
    { "0", JSON_NODE_VALUE, G_TYPE_INT64, NULL, 0, 0 },
    { "42", JSON_NODE_VALUE, G_TYPE_INT64, NULL, 42, 0 },
    { "-17", JSON_NODE_VALUE, G_TYPE_INT64, NULL, -17, 0 },
    { "+8", JSON_NODE_VALUE, G_TYPE_INT64, NULL, 8, 0 },
    { "0x1F", JSON_NODE_VALUE, G_TYPE_INT64, NULL, 31, 0 },
    { "0xff", JSON_NODE_VALUE, G_TYPE_INT64, NULL, 255, 0 },
    { "0o17", JSON_NODE_VALUE, G_TYPE_INT64, NULL, 15, 0 },
    { "0o8", JSON_NODE_VALUE, G_TYPE_STRING, "0o8", 0, 0 },
    { "0x", JSON_NODE_VALUE, G_TYPE_STRING, "0x", 0, 0 },
    { "0xG", JSON_NODE_VALUE, G_TYPE_STRING, "0xG", 0, 0 },
    { "9223372036854775807", JSON_NODE_VALUE, G_TYPE_INT64, NULL, G_MAXINT64, 0 },
    { "-9223372036854775808", JSON_NODE_VALUE, G_TYPE_INT64, NULL, G_MININT64, 0 },
    { "9223372036854775808", JSON_NODE_VALUE, G_TYPE_DOUBLE, NULL, 0, 9223372036854775808.0 },
    { "0x8000000000000000", JSON_NODE_VALUE, G_TYPE_DOUBLE, NULL, 0, 9223372036854775808.0 },
    { "123456789012345678901234567890", JSON_NODE_VALUE, G_TYPE_DOUBLE, NULL, 0, 1.2345678901234568e29 },
    { "1.5", JSON_NODE_VALUE, G_TYPE_DOUBLE, NULL, 0, 1.5 },
    { "-0.25", JSON_NODE_VALUE, G_TYPE_DOUBLE, NULL, 0, -0.25 },
    { ".5", JSON_NODE_VALUE, G_TYPE_DOUBLE, NULL, 0, 0.5 },
    { "1.", JSON_NODE_VALUE, G_TYPE_DOUBLE, NULL, 0, 1.0 },
    { "1e3", JSON_NODE_VALUE, G_TYPE_DOUBLE, NULL, 0, 1000.0 },
    { "2.5E-2", JSON_NODE_VALUE, G_TYPE_DOUBLE, NULL, 0, 0.025 },
    { ".inf", JSON_NODE_VALUE, G_TYPE_DOUBLE, NULL, 0, INFINITY },
    { "+.Inf", JSON_NODE_VALUE, G_TYPE_DOUBLE, NULL, 0, INFINITY },
    { "-.INF", JSON_NODE_VALUE, G_TYPE_DOUBLE, NULL, 0, -INFINITY },
    { "1e", JSON_NODE_VALUE, G_TYPE_STRING, "1e", 0, 0 },
    { "1.2.3", JSON_NODE_VALUE, G_TYPE_STRING, "1.2.3", 0, 0 },
    { ".", JSON_NODE_VALUE, G_TYPE_STRING, ".", 0, 0 },
    { "+", JSON_NODE_VALUE, G_TYPE_STRING, "+", 0, 0 },
    { "-x", JSON_NODE_VALUE, G_TYPE_STRING, "-x", 0, 0 },
    { "30s", JSON_NODE_VALUE, G_TYPE_STRING, "30s", 0, 0 },
    { "1_000", JSON_NODE_VALUE, G_TYPE_STRING, "1_000", 0, 0 },
    { "12:30", JSON_NODE_VALUE, G_TYPE_STRING, "12:30", 0, 0 },
    { "hello world", JSON_NODE_VALUE, G_TYPE_STRING, "hello world", 0, 0 },
    /* Quoted and block scalars are strings, whatever they look like. */
    { "\"42\"", JSON_NODE_VALUE, G_TYPE_STRING, "42", 0, 0 },
    { "'true'", JSON_NODE_VALUE, G_TYPE_STRING, "true", 0, 0 },
    { "\"\"", JSON_NODE_VALUE, G_TYPE_STRING, "", 0, 0 },
    { "''", JSON_NODE_VALUE, G_TYPE_STRING, "", 0, 0 },
    { "'~'", JSON_NODE_VALUE, G_TYPE_STRING, "~", 0, 0 },
    { "\"a\\tb\\u00e9\"", JSON_NODE_VALUE, G_TYPE_STRING, "a\tb\xc3\xa9", 0, 0 },
    { "|\n  12\n", JSON_NODE_VALUE, G_TYPE_STRING, "12\n", 0, 0 },
    { ">-\n  null\n  more\n", JSON_NODE_VALUE, G_TYPE_STRING, "null more", 0, 0 },
    /* Tags. */
    { "!!str 12", JSON_NODE_VALUE, G_TYPE_STRING, "12", 0, 0 },
    { "! true", JSON_NODE_VALUE, G_TYPE_STRING, "true", 0, 0 },
    { "!!int \"12\"", JSON_NODE_VALUE, G_TYPE_INT64, NULL, 12, 0 },
    { "!!float 3", JSON_NODE_VALUE, G_TYPE_DOUBLE, NULL, 0, 3.0 },
  };

  for (guint n = 0; n < G_N_ELEMENTS (cases); n++)
    {
      const TypingCase *c = &cases[n];
      g_autofree char *text = g_strdup_printf ("v: %s\n", c->yaml);
      g_autoptr(SluiceDocument) doc = NULL;
      JsonNode *node;

      g_test_message ("case %u: %s", n, c->yaml);
      doc = load_clean (text);
      node = node_at (doc, "/v");

      g_assert_cmpint (JSON_NODE_TYPE (node), ==, c->node_type);
      if (c->node_type != JSON_NODE_VALUE)
        continue;
      g_assert_cmpuint (json_node_get_value_type (node), ==, c->value_type);
      if (c->value_type == G_TYPE_STRING)
        g_assert_cmpstr (json_node_get_string (node), ==, c->s);
      else if (c->value_type == G_TYPE_INT64)
        g_assert_cmpint (json_node_get_int (node), ==, c->i);
      else if (c->value_type == G_TYPE_BOOLEAN)
        g_assert_cmpint (json_node_get_boolean (node), ==, c->i);
      else
        g_assert_cmpfloat (json_node_get_double (node), ==, c->d);
      g_assert_false (sluice_document_node_is_from_env (doc, node));
    }

  /* NaN does not compare equal to itself. */
  {
    g_autoptr(SluiceDocument) doc = load_clean ("v: .NaN\n");

    g_assert_true (isnan (json_node_get_double (node_at (doc, "/v"))));
  }

  /* Keys are strings as written, never typed. */
  {
    g_autoptr(SluiceDocument) doc = load_clean ("1: a\ntrue: b\nnull: c\n");
    JsonObject *o = json_node_get_object (sluice_document_get_root (doc));

    g_assert_cmpstr (json_object_get_string_member (o, "1"), ==, "a");
    g_assert_cmpstr (json_object_get_string_member (o, "true"), ==, "b");
    g_assert_cmpstr (json_object_get_string_member (o, "null"), ==, "c");
  }
}

static void
test_tags (void)
{
  g_autoptr(GPtrArray) diags = diagnostics_new ();
  g_autoptr(SluiceDocument) doc = load ("a: !!int abc\n"
                                        "b: !custom 5\n"
                                        "c: !!bool yes\n",
                                        diags);

  g_assert_nonnull (doc);
  g_assert_cmpuint (diags->len, ==, 3);
  assert_diag (diags, 0, 1, 4, FALSE, "not a valid !!int");
  assert_diag (diags, 1, 2, 4, TRUE, "unknown tag '!custom'");
  assert_diag (diags, 2, 3, 4, FALSE, "not a valid !!bool");
  g_assert_cmpuint (sluice_diagnostics_count_errors (diags), ==, 2);
  /* An unknown tag is ignored, the value typed as usual. */
  g_assert_cmpint (json_node_get_int (node_at (doc, "/b")), ==, 5);
}

/* ------------------------------------------------------------------ */

static void
test_env_expansion (void)
{
  g_autoptr(SluiceDocument) doc = NULL;

  g_setenv ("SLUICE_T_HOST", "example.com", TRUE);
  g_setenv ("SLUICE_T_N", "12", TRUE);
  g_setenv ("SLUICE_T_F", "0.5", TRUE);
  g_setenv ("SLUICE_T_B", "true", TRUE);
  g_setenv ("SLUICE_T_EMPTY", "", TRUE);
  g_unsetenv ("SLUICE_T_UNSET");

  doc = load_clean ("url: https://${SLUICE_T_HOST}/v1\n"          /* 1 */
                    "n: ${SLUICE_T_N}\n"                          /* 2 */
                    "n_quoted: \"${SLUICE_T_N}\"\n"               /* 3 */
                    "n_default: ${SLUICE_T_UNSET:-4}\n"           /* 4 */
                    "n_set_default: ${SLUICE_T_N:-4}\n"           /* 5 */
                    "f: ${SLUICE_T_F}\n"                          /* 6 */
                    "b: ${SLUICE_T_B}\n"                          /* 7 */
                    "empty_default: ${SLUICE_T_EMPTY:-fallback}\n"/* 8 */
                    "empty: '${SLUICE_T_EMPTY}'\n"                /* 9 */
                    "null_default: ${SLUICE_T_UNSET:-}\n"         /* 10 */
                    "dollars: price $$5 and $HOME and $ and $$\n" /* 11 */
                    "escaped: $${SLUICE_T_HOST}\n"                /* 12 */
                    "mixed: ${SLUICE_T_N}px\n"                    /* 13 */
                    "two: ${SLUICE_T_N}${SLUICE_T_N}\n"           /* 14 */
                    "default_url: \"${SLUICE_T_UNSET:-https://a.b/c?d=e:f}\"\n" /* 15 */
                    "plain: no references here\n"                 /* 16 */
                    "${SLUICE_T_HOST}: keys are not expanded\n"  /* 17 */
                    "anchored: &h ${SLUICE_T_N}\n"               /* 18 */
                    "copy: *h\n"                                 /* 19 */
                    "merged: {<<: {m: \"${SLUICE_T_HOST}\"}}\n"); /* 20 */

  g_assert_cmpstr (json_node_get_string (node_at (doc, "/url")), ==, "https://example.com/v1");
  g_assert_cmpint (json_node_get_int (node_at (doc, "/n")), ==, 12);
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/n_quoted")), ==, "12");
  g_assert_cmpint (json_node_get_int (node_at (doc, "/n_default")), ==, 4);
  g_assert_cmpint (json_node_get_int (node_at (doc, "/n_set_default")), ==, 12);
  g_assert_cmpfloat (json_node_get_double (node_at (doc, "/f")), ==, 0.5);
  g_assert_true (json_node_get_boolean (node_at (doc, "/b")));
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/empty_default")), ==, "fallback");
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/empty")), ==, "");
  /* an expansion to nothing stays an empty string rather than null */
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/null_default")), ==, "");
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/dollars")), ==, "price $5 and $HOME and $ and $");
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/escaped")), ==, "${SLUICE_T_HOST}");
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/mixed")), ==, "12px");
  g_assert_cmpint (json_node_get_int (node_at (doc, "/two")), ==, 1212);
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/default_url")), ==, "https://a.b/c?d=e:f");
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/${SLUICE_T_HOST}")), ==, "keys are not expanded");

  /* Which values came from the environment (a default written in the file
   * does not). */
  g_assert_true (sluice_document_node_is_from_env (doc, node_at (doc, "/url")));
  g_assert_true (sluice_document_node_is_from_env (doc, node_at (doc, "/n")));
  g_assert_true (sluice_document_node_is_from_env (doc, node_at (doc, "/n_quoted")));
  g_assert_false (sluice_document_node_is_from_env (doc, node_at (doc, "/n_default")));
  g_assert_true (sluice_document_node_is_from_env (doc, node_at (doc, "/n_set_default")));
  g_assert_false (sluice_document_node_is_from_env (doc, node_at (doc, "/empty_default")));
  g_assert_false (sluice_document_node_is_from_env (doc, node_at (doc, "/dollars")));
  g_assert_false (sluice_document_node_is_from_env (doc, node_at (doc, "/escaped")));
  g_assert_false (sluice_document_node_is_from_env (doc, node_at (doc, "/plain")));
  /* Copies made by aliases and merge keys keep the mark. */
  g_assert_cmpint (json_node_get_int (node_at (doc, "/copy")), ==, 12);
  g_assert_true (sluice_document_node_is_from_env (doc, node_at (doc, "/copy")));
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/merged/m")), ==, "example.com");
  g_assert_true (sluice_document_node_is_from_env (doc, node_at (doc, "/merged/m")));
  assert_locate (doc, "/merged/m", 20, 15);

  g_unsetenv ("SLUICE_T_HOST");
  g_unsetenv ("SLUICE_T_N");
  g_unsetenv ("SLUICE_T_F");
  g_unsetenv ("SLUICE_T_B");
  g_unsetenv ("SLUICE_T_EMPTY");
}

static void
test_env_errors (void)
{
  g_autoptr(GPtrArray) diags = diagnostics_new ();
  g_autoptr(SluiceDocument) doc = NULL;

  g_unsetenv ("SLUICE_T_UNSET");
  g_unsetenv ("SLUICE_T_UNSET2");
  g_setenv ("SLUICE_T_BADUTF8", "a\xff", TRUE);

  doc = load ("ok: 1\n"                                        /* 1 */
              "key: ${SLUICE_T_UNSET}\n"                        /* 2 */
              "url: \"https://${SLUICE_T_UNSET2}/x\"\n"         /* 3 */
              "n:   ${SLUICE_T_UNSET}\n"                        /* 4 */
              "open: ${SLUICE_T_UNSET\n"                        /* 5 */
              "bad1: ${1ABC}\n"                                 /* 6 */
              "bad2: x${}y\n"                                   /* 7 */
              "bad3: ${A B}\n"                                  /* 8 */
              "bad4: ${A:=b}\n"                                 /* 9 */
              "badutf: ${SLUICE_T_BADUTF8}\n",                  /* 10 */
              diags);

  g_assert_nonnull (doc);
  g_assert_cmpuint (diags->len, ==, 9);
  assert_diag (diags, 0, 2, 6, FALSE, "environment variable SLUICE_T_UNSET is not set");
  assert_diag (diags, 1, 3, 6, FALSE, "environment variable SLUICE_T_UNSET2 is not set");
  assert_diag (diags, 2, 4, 6, FALSE, "environment variable SLUICE_T_UNSET is not set");
  assert_diag (diags, 3, 5, 7, FALSE, "unterminated environment variable reference '${SLUICE_T_UNSET'");
  assert_diag (diags, 4, 6, 7, FALSE, "malformed environment variable reference '${1ABC}'");
  assert_diag (diags, 5, 7, 7, FALSE, "malformed environment variable reference '${}'");
  assert_diag (diags, 6, 8, 7, FALSE, "malformed environment variable reference '${A B}'");
  assert_diag (diags, 7, 9, 7, FALSE, "malformed environment variable reference '${A:=b}'");
  assert_diag (diags, 8, 10, 9, FALSE, "environment variable SLUICE_T_BADUTF8 is not valid UTF-8");

  /* An unset variable leaves an empty string, not a typed value. */
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/key")), ==, "");
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/n")), ==, "");
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/url")), ==, "https:///x");
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/badutf")), ==, "");
  g_assert_cmpint (json_node_get_int (node_at (doc, "/ok")), ==, 1);

  g_unsetenv ("SLUICE_T_BADUTF8");
}

static void
test_env_secret_never_in_diagnostics (void)
{
  static const char *secret = "sk-SECRET-0123456789abcdef";
  g_autoptr(GPtrArray) diags = diagnostics_new ();
  g_autoptr(SluiceDocument) doc = NULL;
  g_autofree char *all = NULL;

  g_setenv ("SLUICE_T_KEY", secret, TRUE);
  g_unsetenv ("SLUICE_T_UNSET");

  /* Every kind of problem next to, or on, the secret's value. */
  doc = load ("api_key: ${SLUICE_T_KEY}\n"
              "api_key: ${SLUICE_T_KEY}\n"                     /* duplicate */
              "typed: !!int ${SLUICE_T_KEY}\n"                  /* wrong type */
              "flt: !!float '${SLUICE_T_KEY}'\n"
              "both: ${SLUICE_T_KEY}${SLUICE_T_UNSET}\n"        /* unset next to set */
              "open: ${SLUICE_T_KEY}${SLUICE_T_KEY\n"           /* unterminated */
              "bad: ${SLUICE_T_KEY} ${=x}\n"                    /* malformed */
              "anchored: &k ${SLUICE_T_KEY}\n"
              "*k : aliased key\n"                              /* alias of the value as key */
              "merged: {<<: *k}\n"                              /* bad merge */
              "nul: \"${SLUICE_T_KEY}\\0\"\n",
              diags);

  g_assert_nonnull (doc);
  all = diagnostics_text (diags);
  g_test_message ("%s", all);
  g_assert_cmpuint (diags->len, >=, 8);
  g_assert_null (strstr (all, secret));
  g_assert_null (strstr (all, "SECRET"));

  g_assert_cmpstr (json_node_get_string (node_at (doc, "/api_key")), ==, secret);
  g_assert_true (sluice_document_node_is_from_env (doc, node_at (doc, "/api_key")));
  /* Alias copies keep the mark. */
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/anchored")), ==, secret);

  g_unsetenv ("SLUICE_T_KEY");
}

/* ------------------------------------------------------------------ */

static void
test_many_errors (void)
{
  g_autoptr(GPtrArray) diags = diagnostics_new ();
  g_autoptr(SluiceDocument) doc = NULL;

  g_unsetenv ("SLUICE_T_UNSET");

  doc = load ("name: a\n"                                      /* 1 */
              "stages:\n"                                       /* 2 */
              "  - call:\n"                                     /* 3 */
              "      retry: 3\n"                                /* 4 */
              "      retry: 4\n"                                /* 5 */
              "  - log: *nowhere\n"                             /* 6 */
              "  - {[a, b]: 1, ok: 2}\n"                        /* 7 */
              "  - url: ${SLUICE_T_UNSET}\n"                    /* 8 */
              "  - {<<: [1, 2]}\n"                              /* 9 */
              "name: b\n",                                      /* 10 */
              diags);

  g_assert_nonnull (doc);
  g_assert_cmpuint (diags->len, ==, 6);
  g_assert_cmpuint (sluice_diagnostics_count_errors (diags), ==, 6);
  assert_diag (diags, 0, 5, 7, FALSE, "duplicate key 'retry' (first at line 4)");
  assert_diag (diags, 1, 6, 10, FALSE, "undefined alias '*nowhere'");
  assert_diag (diags, 2, 7, 6, FALSE, "mapping keys must be scalars");
  assert_diag (diags, 3, 8, 10, FALSE, "environment variable SLUICE_T_UNSET is not set");
  assert_diag (diags, 4, 9, 10, FALSE, "merge key '<<' must be a mapping or a list of mappings");
  assert_diag (diags, 5, 10, 1, FALSE, "duplicate key 'name' (first at line 1)");

  /* The first of duplicate keys is kept; the bad key's value is dropped. */
  g_assert_cmpint (json_node_get_int (node_at (doc, "/stages/0/call/retry")), ==, 3);
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/name")), ==, "a");
  g_assert_true (JSON_NODE_HOLDS_NULL (node_at (doc, "/stages/1/log")));
  g_assert_cmpuint (json_object_get_size (json_node_get_object (node_at (doc, "/stages/2"))), ==, 1);
  g_assert_cmpint (json_node_get_int (node_at (doc, "/stages/2/ok")), ==, 2);
  assert_locate (doc, "/stages/0/call/retry", 4, 7);
}

static void
test_duplicate_keys (void)
{
  g_autoptr(GPtrArray) diags = diagnostics_new ();
  g_autoptr(SluiceDocument) doc = NULL;

  doc = sluice_document_load_data ("{\"a\": 1,\n \"b\": 2,\n \"a\": 3,\n \"a\": {\"x\": 1}}", -1,
                                   "test.yaml", diags);
  g_assert_nonnull (doc);
  g_assert_cmpuint (diags->len, ==, 2);
  assert_diag (diags, 0, 3, 2, FALSE, "duplicate key 'a' (first at line 1)");
  assert_diag (diags, 1, 4, 2, FALSE, "duplicate key 'a' (first at line 1)");
  g_assert_cmpint (json_node_get_int (node_at (doc, "/a")), ==, 1);

  /* Quoted and plain spellings are the same key. */
  g_ptr_array_set_size (diags, 0);
  g_clear_pointer (&doc, sluice_document_unref);
  doc = load ("x: 1\n'x': 2\n", diags);
  g_assert_cmpuint (diags->len, ==, 1);
  assert_diag (diags, 0, 2, 1, FALSE, "duplicate key 'x' (first at line 1)");
}

static void
test_syntax_error (void)
{
  g_autoptr(GPtrArray) diags = diagnostics_new ();
  SluiceDocument *doc;

  doc = load ("a: 1\nb: [1, 2\nc: 3\n", diags);
  g_assert_null (doc);
  g_assert_cmpuint (diags->len, ==, 1);
  assert_diag (diags, 0, 3, 2, FALSE, "did not find expected ',' or ']'");
  g_assert_nonnull (strstr (((SluiceDiagnostic *) diags->pdata[0])->message, "line 2, column 4"));

  g_ptr_array_set_size (diags, 0);
  doc = load ("a: 1\n b: 2\n", diags);
  g_assert_null (doc);
  g_assert_cmpuint (diags->len, ==, 1);
  assert_diag (diags, 0, 2, 3, FALSE, "mapping values are not allowed");

  /* JSON too: a missing comma. */
  g_ptr_array_set_size (diags, 0);
  doc = load ("{\n  \"a\": 1\n  \"b\": 2\n}\n", diags);
  g_assert_null (doc);
  g_assert_cmpuint (diags->len, ==, 1);
  assert_diag (diags, 0, 3, 6, FALSE, "did not find expected ',' or '}'");

  /* Problems found before the syntax error are still reported. */
  g_ptr_array_set_size (diags, 0);
  doc = load ("a: 1\na: 2\nb: [\n", diags);
  g_assert_null (doc);
  g_assert_cmpuint (diags->len, ==, 2);
  assert_diag (diags, 0, 2, 1, FALSE, "duplicate key 'a'");
  g_assert_cmpuint (((SluiceDiagnostic *) diags->pdata[1])->line, ==, 4);
}

static void
test_empty_file (void)
{
  static const char *empties[] = { "", "\n\n", "# only a comment\n   \n" };

  for (guint i = 0; i < G_N_ELEMENTS (empties); i++)
    {
      g_autoptr(GPtrArray) diags = diagnostics_new ();

      g_assert_null (load (empties[i], diags));
      g_assert_cmpuint (diags->len, ==, 1);
      assert_diag (diags, 0, 0, 0, FALSE, "file is empty");
    }

  /* A document holding only null is not empty. */
  {
    g_autoptr(SluiceDocument) doc = load_clean ("--- ~\n");

    g_assert_true (JSON_NODE_HOLDS_NULL (sluice_document_get_root (doc)));
  }
}

static void
test_load_file (void)
{
  g_autoptr(GPtrArray) diags = diagnostics_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("sluice-document-XXXXXX", &error);
  g_autofree char *path = NULL;
  g_autofree char *missing = NULL;
  g_autofree char *text = NULL;
  g_autoptr(SluiceDocument) doc = NULL;
  const SluiceDiagnostic *d;

  g_assert_no_error (error);
  path = g_build_filename (dir, "pipe.yaml", NULL);
  missing = g_build_filename (dir, "missing.yaml", NULL);

  g_assert_null (sluice_document_load_file (missing, diags));
  g_assert_cmpuint (diags->len, ==, 1);
  d = g_ptr_array_index (diags, 0);
  g_assert_cmpstr (d->file, ==, missing);
  g_assert_cmpuint (d->line, ==, 0);
  g_assert_cmpuint (d->column, ==, 0);
  g_assert_cmpstr (d->message, ==, "cannot read: No such file or directory");
  text = sluice_diagnostic_to_string (d);
  g_assert_true (g_str_has_suffix (text, "missing.yaml: error: cannot read: No such file or directory"));

  /* A directory cannot be read as a file either. */
  g_ptr_array_set_size (diags, 0);
  g_assert_null (sluice_document_load_file (dir, diags));
  g_assert_cmpuint (diags->len, ==, 1);
  g_assert_cmpstr (((SluiceDiagnostic *) diags->pdata[0])->message, ==, "cannot read: Is a directory");

  g_ptr_array_set_size (diags, 0);
  g_file_set_contents (path, "a: 1\nb: [x]\n", -1, &error);
  g_assert_no_error (error);
  doc = sluice_document_load_file (path, diags);
  g_assert_nonnull (doc);
  g_assert_cmpuint (diags->len, ==, 0);
  g_assert_cmpstr (sluice_document_get_filename (doc), ==, path);
  assert_locate (doc, "/b/0", 2, 5);

  g_unlink (path);
  g_rmdir (dir);
}

static void
test_anchors_aliases_merge (void)
{
  g_autoptr(SluiceDocument) doc = NULL;
  JsonObject *o;
  guint line = 0, column = 0;

  doc = load_clean ("defaults: &defaults\n"                    /* 1 */
                    "  timeout: 25s\n"                          /* 2 */
                    "  retries: 3\n"                            /* 3 */
                    "extra: &extra {region: eu, retries: 9}\n"  /* 4 */
                    "name: &n sentiment\n"                      /* 5 */
                    "copy: *defaults\n"                         /* 6 */
                    "names: [*n, *n]\n"                         /* 7 */
                    "target:\n"                                 /* 8 */
                    "  <<: *defaults\n"                         /* 9 */
                    "  timeout: 10s\n"                          /* 10 */
                    "both:\n"                                   /* 11 */
                    "  <<: [*extra, *defaults]\n"               /* 12 */
                    "inline:\n"                                 /* 13 */
                    "  <<: {a: 1}\n"                            /* 14 */
                    "  b: 2\n"                                  /* 15 */
                    "quoted_merge: {'<<': 1}\n"                 /* 16 */
                    "&k key: value\n");                         /* 17 */

  o = json_node_get_object (node_at (doc, "/copy"));
  g_assert_cmpstr (json_object_get_string_member (o, "timeout"), ==, "25s");
  g_assert_cmpint (json_object_get_int_member (o, "retries"), ==, 3);
  g_assert_true (json_node_equal (node_at (doc, "/copy"), node_at (doc, "/defaults")));
  /* A copy, not a shared node. */
  g_assert_true (node_at (doc, "/copy") != node_at (doc, "/defaults"));
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/names/1")), ==, "sentiment");

  /* The copy sits where the alias is; what is inside, where it was written. */
  g_assert_true (sluice_document_get_node_position (doc, node_at (doc, "/copy"), &line, &column));
  g_assert_cmpuint (line, ==, 6);
  g_assert_cmpuint (column, ==, 7);
  assert_locate (doc, "/copy/retries", 3, 3);
  assert_locate (doc, "/names/1", 7, 13);

  /* Merge: explicit keys win, even when written after "<<". */
  o = json_node_get_object (node_at (doc, "/target"));
  g_assert_cmpuint (json_object_get_size (o), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (o, "timeout"), ==, "10s");
  g_assert_cmpint (json_object_get_int_member (o, "retries"), ==, 3);
  assert_locate (doc, "/target/timeout", 10, 3);
  assert_locate (doc, "/target/retries", 3, 3);

  /* In a list of merges the earlier mapping wins. */
  o = json_node_get_object (node_at (doc, "/both"));
  g_assert_cmpuint (json_object_get_size (o), ==, 3);
  g_assert_cmpint (json_object_get_int_member (o, "retries"), ==, 9);
  g_assert_cmpstr (json_object_get_string_member (o, "region"), ==, "eu");
  g_assert_cmpstr (json_object_get_string_member (o, "timeout"), ==, "25s");

  o = json_node_get_object (node_at (doc, "/inline"));
  g_assert_cmpuint (json_object_get_size (o), ==, 2);
  g_assert_cmpint (json_object_get_int_member (o, "a"), ==, 1);
  g_assert_false (json_object_has_member (o, "<<"));

  /* A quoted "<<" is an ordinary key. */
  g_assert_cmpint (json_node_get_int (node_at (doc, "/quoted_merge/<<")), ==, 1);

  /* An anchored key aliased as a value... and as a duplicate key. */
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/key")), ==, "value");
  {
    g_autoptr(GPtrArray) diags = diagnostics_new ();
    g_autoptr(SluiceDocument) d2 = load ("&k key: value\n*k : again\nother: *k\n", diags);

    g_assert_cmpuint (diags->len, ==, 1);
    assert_diag (diags, 0, 2, 1, FALSE, "duplicate key 'key' (first at line 1)");
    g_assert_cmpstr (json_node_get_string (node_at (d2, "/other")), ==, "key");
  }
}

static void
test_anchor_redefined_and_scoping (void)
{
  g_autoptr(GPtrArray) diags = diagnostics_new ();
  g_autoptr(SluiceDocument) doc = NULL;

  /* An alias refers to the latest anchor of its name; an anchor cannot be
   * used inside itself (that would be a cycle). */
  doc = load ("a: &x 1\n"
              "b: *x\n"
              "c: &x 2\n"
              "d: *x\n"
              "e: &y [1, *y]\n",
              diags);

  g_assert_nonnull (doc);
  g_assert_cmpint (json_node_get_int (node_at (doc, "/b")), ==, 1);
  g_assert_cmpint (json_node_get_int (node_at (doc, "/d")), ==, 2);
  g_assert_cmpuint (diags->len, ==, 1);
  assert_diag (diags, 0, 5, 11, FALSE, "undefined alias '*y'");
}

static void
test_alias_bomb (void)
{
  g_autoptr(GPtrArray) diags = diagnostics_new ();
  g_autoptr(SluiceDocument) doc = NULL;
  GString *s = g_string_new ("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
  g_autofree char *text = NULL;
  gint64 start;

  /* Each level holds ten copies of the one before: 10^12 nodes. */
  for (guint i = 1; i <= 12; i++)
    {
      g_string_append_printf (s, "a%u: &a%u [", i, i);
      for (guint j = 0; j < 10; j++)
        g_string_append_printf (s, "%s*a%u", j > 0 ? ", " : "", i - 1);
      g_string_append (s, "]\n");
    }
  g_string_append (s, "after: *a1\n");
  text = g_string_free (s, FALSE);

  start = g_get_monotonic_time ();
  doc = load (text, diags);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 20 * G_USEC_PER_SEC);

  g_assert_nonnull (doc);
  g_assert_cmpuint (diags->len, ==, 1);
  /* a0 is 11 nodes, a1 111, ..., a4 111111: the copies made for a1..a4
   * (123440 nodes) and seven of a5's ten aliases fit in 1000000; the
   * eighth, at column 45 of line 6, does not. */
  assert_diag (diags, 0, 6, 45, FALSE, "alias bomb");
  g_assert_nonnull (strstr (((SluiceDiagnostic *) diags->pdata[0])->message, "1000000"));
  /* What fitted in the budget is there; the rest is empty. */
  g_assert_true (JSON_NODE_HOLDS_ARRAY (node_at (doc, "/a4/9/9/9/9")));
  g_assert_true (JSON_NODE_HOLDS_ARRAY (node_at (doc, "/a5/6/9/9/9/9")));
  g_assert_true (JSON_NODE_HOLDS_NULL (node_at (doc, "/a5/7")));
  g_assert_true (JSON_NODE_HOLDS_NULL (node_at (doc, "/a5/9")));
  g_assert_true (JSON_NODE_HOLDS_NULL (node_at (doc, "/a6/0")));
  g_assert_true (JSON_NODE_HOLDS_NULL (node_at (doc, "/after")));
}

static void
test_deep_nesting (void)
{
  g_autoptr(GPtrArray) diags = diagnostics_new ();
  GString *s = g_string_new ("ok: [[[1]]]\ndeep: ");
  g_autofree char *text = NULL;
  gint64 start;

  /* libyaml takes time quadratic in flow depth: this is 40 s if read to
   * the end, so the loader must stop at the cap. */
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (s, '[');
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (s, ']');
  g_string_append (s, "\nafter: {a: {b: 1}}\n");
  text = g_string_free (s, FALSE);

  start = g_get_monotonic_time ();
  g_assert_null (load (text, diags));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
  g_assert_cmpuint (diags->len, ==, 1);
  /* The root mapping is level 1, so the 256th '[' (column 6 + 256) is one
   * level too many. */
  assert_diag (diags, 0, 2, 6 + SLUICE_DOCUMENT_MAX_DEPTH, FALSE, "nesting is deeper than 256 levels");

  /* Exactly at the cap is fine. */
  {
    GString *t = g_string_new ("a: ");
    g_autofree char *text2 = NULL;
    g_autoptr(SluiceDocument) doc = NULL;
    JsonNode *node;
    guint depth = 0;

    for (guint i = 0; i < SLUICE_DOCUMENT_MAX_DEPTH - 1; i++)
      g_string_append_c (t, '[');
    for (guint i = 0; i < SLUICE_DOCUMENT_MAX_DEPTH - 1; i++)
      g_string_append_c (t, ']');
    text2 = g_string_free (t, FALSE);
    doc = load_clean (text2);
    for (node = node_at (doc, "/a"); JSON_NODE_HOLDS_ARRAY (node) && json_array_get_length (json_node_get_array (node)) > 0;
         node = json_array_get_element (json_node_get_array (node), 0))
      depth++;
    g_assert_cmpuint (depth + 1, ==, SLUICE_DOCUMENT_MAX_DEPTH - 1);
  }

  /* Depth inside a rejected key counts too. */
  {
    g_autoptr(GPtrArray) d2 = diagnostics_new ();
    GString *t = g_string_new ("? ");
    g_autofree char *text2 = NULL;

    for (guint i = 0; i < 20000; i++)
      g_string_append_c (t, '[');
    for (guint i = 0; i < 20000; i++)
      g_string_append_c (t, ']');
    g_string_append (t, "\n: 1\n");
    text2 = g_string_free (t, FALSE);
    start = g_get_monotonic_time ();
    g_assert_null (load (text2, d2));
    g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
    g_assert_cmpuint (d2->len, ==, 2);
    assert_diag (d2, 0, 1, 3, FALSE, "mapping keys must be scalars");
    assert_diag (d2, 1, 1, 3 + SLUICE_DOCUMENT_MAX_DEPTH - 1, FALSE, "nesting is deeper than 256 levels");
  }

  /* Aliases cannot get past the cap either. */
  {
    g_autoptr(GPtrArray) d2 = diagnostics_new ();
    g_autoptr(SluiceDocument) doc2 = NULL;
    GString *t = g_string_new ("a: &a ");
    g_autofree char *text2 = NULL;

    for (guint i = 0; i < 200; i++)
      g_string_append_c (t, '[');
    for (guint i = 0; i < 200; i++)
      g_string_append_c (t, ']');
    g_string_append (t, "\nb: ");
    for (guint i = 0; i < 60; i++)
      g_string_append_c (t, '[');
    g_string_append (t, "*a");
    for (guint i = 0; i < 60; i++)
      g_string_append_c (t, ']');
    g_string_append_c (t, '\n');
    text2 = g_string_free (t, FALSE);
    doc2 = load (text2, d2);
    g_assert_nonnull (doc2);
    g_assert_cmpuint (d2->len, ==, 1);
    assert_diag (d2, 0, 2, 64, FALSE, "nests deeper than 256 levels");
  }
}

static void
test_invalid_utf8 (void)
{
  g_autoptr(GPtrArray) diags = diagnostics_new ();
  SluiceDocument *doc;

  doc = load ("a: 1\nb: \"h\xc3\xa9llo \xff\"\n", diags);
  g_assert_null (doc);
  g_assert_cmpuint (diags->len, ==, 1);
  /* Columns count characters: 'b: "h', 'é', 'llo ' come before the byte. */
  assert_diag (diags, 0, 2, 11, FALSE, "UTF-8");
  g_assert_nonnull (strstr (((SluiceDiagnostic *) diags->pdata[0])->message, "0xFF"));

  /* A truncated sequence at the very end. */
  g_ptr_array_set_size (diags, 0);
  doc = load ("a: \xe2\x82", diags);
  g_assert_null (doc);
  g_assert_cmpuint (diags->len, ==, 1);
  assert_diag (diags, 0, 1, 4, FALSE, "UTF-8");

  /* A NUL byte in the data (length given explicitly). */
  g_ptr_array_set_size (diags, 0);
  doc = sluice_document_load_data ("a: x\0y\n", 7, "test.yaml", diags);
  g_assert_null (doc);
  g_assert_cmpuint (diags->len, ==, 1);
  assert_diag (diags, 0, 1, 5, FALSE, "control characters");

  /* A UTF-8 byte-order mark is fine and does not shift columns. */
  {
    g_autoptr(SluiceDocument) d = load_clean ("\xef\xbb\xbf" "a: 1\nb: 2\n");

    assert_locate (d, "/a", 1, 1);
    assert_locate (d, "/b", 2, 1);
  }
}

static void
test_nul_in_string (void)
{
  g_autoptr(GPtrArray) diags = diagnostics_new ();
  g_autoptr(SluiceDocument) doc = load ("a: \"x\\0y\"\n", diags);

  g_assert_nonnull (doc);
  g_assert_cmpuint (diags->len, ==, 1);
  assert_diag (diags, 0, 1, 4, FALSE, "NUL");
  g_assert_cmpstr (json_node_get_string (node_at (doc, "/a")), ==, "x");
}

static void
test_multiple_documents (void)
{
  g_autoptr(GPtrArray) diags = diagnostics_new ();
  g_autoptr(SluiceDocument) doc = NULL;

  doc = load ("---\na: 1\n---\nb: 2\n", diags);
  g_assert_nonnull (doc);
  g_assert_cmpuint (diags->len, ==, 1);
  assert_diag (diags, 0, 3, 1, FALSE, "one document");
  g_assert_cmpint (json_node_get_int (node_at (doc, "/a")), ==, 1);

  /* One document with explicit markers is fine. */
  {
    g_autoptr(SluiceDocument) d = load_clean ("%YAML 1.2\n---\na: 1\n...\n");

    g_assert_cmpint (json_node_get_int (node_at (d, "/a")), ==, 1);
  }
}

static void
test_non_scalar_keys (void)
{
  g_autoptr(GPtrArray) diags = diagnostics_new ();
  g_autoptr(SluiceDocument) doc = NULL;

  doc = load ("? [a, b]\n"
              ": 1\n"
              "? {c: d}\n"
              ": [2, 3]\n"
              "list: &l [1]\n"
              "*l : 4\n"
              "ok: 5\n",
              diags);
  g_assert_nonnull (doc);
  g_assert_cmpuint (diags->len, ==, 3);
  assert_diag (diags, 0, 1, 3, FALSE, "mapping keys must be scalars, not lists");
  assert_diag (diags, 1, 3, 3, FALSE, "mapping keys must be scalars, not mappings");
  assert_diag (diags, 2, 6, 1, FALSE, "mapping keys must be scalars");
  g_assert_cmpuint (json_object_get_size (json_node_get_object (sluice_document_get_root (doc))), ==, 2);
  g_assert_cmpint (json_node_get_int (node_at (doc, "/ok")), ==, 5);
}

static void
test_too_many_diagnostics (void)
{
  g_autoptr(GPtrArray) diags = diagnostics_new ();
  g_autoptr(SluiceDocument) doc = NULL;
  GString *s = g_string_new (NULL);
  g_autofree char *text = NULL;

  for (guint i = 0; i < 1000; i++)
    g_string_append (s, "k: v\n");
  text = g_string_free (s, FALSE);

  doc = load (text, diags);
  g_assert_nonnull (doc);
  g_assert_cmpuint (diags->len, ==, SLUICE_DOCUMENT_MAX_DIAGNOSTICS + 1);
  assert_diag (diags, SLUICE_DOCUMENT_MAX_DIAGNOSTICS - 1, SLUICE_DOCUMENT_MAX_DIAGNOSTICS + 1, 1, FALSE,
               "duplicate key 'k'");
  g_assert_cmpstr (((SluiceDiagnostic *) diags->pdata[SLUICE_DOCUMENT_MAX_DIAGNOSTICS])->message, ==,
                   "too many problems; the rest are not reported");
}

static void
test_big_input (void)
{
  GString *s = g_string_sized_new (4 << 20);
  g_autoptr(GPtrArray) diags = diagnostics_new ();
  g_autoptr(SluiceDocument) doc = NULL;
  g_autofree char *text = NULL;
  gint64 start, elapsed;
  guint n = 0;
  guint line = 0;

  /* About 2 MB under sanitizers; tools/ can time 10 MB in a release build. */
  g_string_append (s, "items:\n");
  while (s->len < (2 << 20))
    {
      g_string_append_printf (s,
                              "  - id: %u\n"
                              "    name: \"item number %u\"\n"
                              "    tags: [a, b, c]\n"
                              "    score: %u.5\n",
                              n, n, n % 100);
      n++;
    }
  text = g_string_free (s, FALSE);

  start = g_get_monotonic_time ();
  doc = load (text, diags);
  elapsed = g_get_monotonic_time () - start;
  g_test_message ("loaded %u items (2 MB) in %" G_GINT64_FORMAT " ms", n, elapsed / 1000);

  g_assert_nonnull (doc);
  g_assert_cmpuint (diags->len, ==, 0);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (node_at (doc, "/items"))), ==, n);
  {
    g_autofree char *pointer = g_strdup_printf ("/items/%u/tags/2", n - 1);

    g_assert_true (sluice_document_locate (doc, pointer, &line, NULL));
    g_assert_cmpuint (line, ==, 2 + 4 * (n - 1) + 2);
  }
  /* The time is reported, not asserted: tests are not benchmarks. */
}

static void
test_refcount (void)
{
  SluiceDocument *doc = load_clean ("a: [1]\n");
  SluiceDocument *other = sluice_document_ref (doc);
  JsonNode *root = sluice_document_get_root (doc);
  g_autoptr(JsonNode) foreign = json_node_new (JSON_NODE_NULL);

  g_assert_true (other == doc);
  sluice_document_unref (doc);
  g_assert_true (sluice_document_get_root (other) == root);
  g_assert_false (sluice_document_get_node_position (other, foreign, NULL, NULL));
  g_assert_false (sluice_document_node_is_from_env (other, foreign));
  sluice_document_unref (other);
}

/* ------------------------------------------------------------------ */

static void
test_suggest (void)
{
  static const char * const stages[] = {
    "validate-input", "sanitize", "assemble", "token-count", "context-check",
    "cache", "call", "parse", "validate", "log", NULL
  };
  static const char * const keys[] = { "retry", "deadline", "breaker", "policy", "targets", NULL };

  g_assert_cmpstr (sluice_suggest ("retyr", keys), ==, "retry");
  /* Three edits: more than max(2, 7 / 3) allows. */
  g_assert_null (sluice_suggest ("retries", keys));
  g_assert_cmpstr (sluice_suggest ("target", keys), ==, "targets");
  g_assert_cmpstr (sluice_suggest ("deadlin", keys), ==, "deadline");
  g_assert_null (sluice_suggest ("zzz", keys));
  g_assert_null (sluice_suggest ("timeout", keys));

  g_assert_cmpstr (sluice_suggest ("asemble", stages), ==, "assemble");
  g_assert_cmpstr (sluice_suggest ("sanitise", stages), ==, "sanitize");
  g_assert_cmpstr (sluice_suggest ("validat", stages), ==, "validate");
  g_assert_cmpstr (sluice_suggest ("validate-inptu", stages), ==, "validate-input");
  g_assert_cmpstr (sluice_suggest ("tokencount", stages), ==, "token-count");
  g_assert_cmpstr (sluice_suggest ("cal", stages), ==, "call");
  g_assert_cmpstr (sluice_suggest ("call", stages), ==, "call");
  g_assert_null (sluice_suggest ("zzz", stages));
  g_assert_null (sluice_suggest ("completely-unrelated", stages));

  /* Ties go to the earlier candidate; code points, not bytes. */
  {
    static const char * const tie[] = { "cat", "car", NULL };
    static const char * const accents[] = { "café", "cafe", NULL };

    g_assert_cmpstr (sluice_suggest ("cax", tie), ==, "cat");
    g_assert_cmpstr (sluice_suggest ("cafë", accents), ==, "café");
  }

  g_assert_null (sluice_suggest ("x", NULL));
  {
    static const char * const none[] = { NULL };

    g_assert_null (sluice_suggest ("x", none));
  }
}

static void
test_diagnostic_to_string (void)
{
  struct {
    const char *file;
    guint line, column;
    gboolean warning;
    const char *expected;
  } cases[] = {
    { "pipe.yaml", 3, 7, FALSE, "pipe.yaml:3:7: error: boom" },
    { "pipe.yaml", 3, 7, TRUE, "pipe.yaml:3:7: warning: boom" },
    { "pipe.yaml", 3, 0, FALSE, "pipe.yaml:3: error: boom" },
    { "pipe.yaml", 0, 0, FALSE, "pipe.yaml: error: boom" },
    { "pipe.yaml", 0, 5, FALSE, "pipe.yaml: error: boom" },
    { NULL, 2, 1, FALSE, "2:1: error: boom" },
    { NULL, 0, 0, TRUE, "warning: boom" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(SluiceDiagnostic) d = sluice_diagnostic_new (cases[i].file, cases[i].line, cases[i].column,
                                                             cases[i].warning, "boom");
      g_autofree char *text = sluice_diagnostic_to_string (d);

      g_assert_cmpstr (text, ==, cases[i].expected);
    }

  {
    g_autoptr(GPtrArray) diags = diagnostics_new ();

    sluice_diagnostics_add (diags, "f.yaml", 1, 2, FALSE, "unknown stage '%s'", "asemble");
    sluice_diagnostics_add (diags, "f.yaml", 4, 1, TRUE, "%d unused", 3);
    sluice_diagnostics_add (diags, NULL, 0, 0, FALSE, "plain");
    sluice_diagnostics_add (NULL, NULL, 0, 0, FALSE, "dropped");
    g_assert_cmpuint (diags->len, ==, 3);
    g_assert_cmpuint (sluice_diagnostics_count_errors (diags), ==, 2);
    g_assert_cmpuint (sluice_diagnostics_count_errors (NULL), ==, 0);
    g_assert_cmpstr (((SluiceDiagnostic *) diags->pdata[0])->message, ==, "unknown stage 'asemble'");
    g_assert_cmpstr (((SluiceDiagnostic *) diags->pdata[0])->file, ==, "f.yaml");
    g_assert_cmpstr (((SluiceDiagnostic *) diags->pdata[1])->message, ==, "3 unused");
    g_assert_true (((SluiceDiagnostic *) diags->pdata[1])->is_warning);
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/document/json-yaml-equal", test_json_yaml_equal);
  g_test_add_func ("/document/locate", test_locate);
  g_test_add_func ("/document/scalar-typing", test_scalar_typing);
  g_test_add_func ("/document/tags", test_tags);
  g_test_add_func ("/document/env/expansion", test_env_expansion);
  g_test_add_func ("/document/env/errors", test_env_errors);
  g_test_add_func ("/document/env/secret-never-in-diagnostics", test_env_secret_never_in_diagnostics);
  g_test_add_func ("/document/many-errors", test_many_errors);
  g_test_add_func ("/document/duplicate-keys", test_duplicate_keys);
  g_test_add_func ("/document/syntax-error", test_syntax_error);
  g_test_add_func ("/document/empty-file", test_empty_file);
  g_test_add_func ("/document/load-file", test_load_file);
  g_test_add_func ("/document/anchors-aliases-merge", test_anchors_aliases_merge);
  g_test_add_func ("/document/anchor-redefined", test_anchor_redefined_and_scoping);
  g_test_add_func ("/document/alias-bomb", test_alias_bomb);
  g_test_add_func ("/document/deep-nesting", test_deep_nesting);
  g_test_add_func ("/document/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/document/nul-in-string", test_nul_in_string);
  g_test_add_func ("/document/multiple-documents", test_multiple_documents);
  g_test_add_func ("/document/non-scalar-keys", test_non_scalar_keys);
  g_test_add_func ("/document/too-many-diagnostics", test_too_many_diagnostics);
  g_test_add_func ("/document/big-input", test_big_input);
  g_test_add_func ("/document/refcount", test_refcount);
  g_test_add_func ("/diagnostic/suggest", test_suggest);
  g_test_add_func ("/diagnostic/to-string", test_diagnostic_to_string);

  return g_test_run ();
}
