/* test-mustache.c — what sluice's Mustache renderer adds to the spec (no
 * escaping by default, strict names, errors with positions, limits, names
 * checked against the input schema). The spec itself is
 * tests/conformance/test-mustache-spec.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-private.h"
#include "sluice-mustache-private.h"

#include <string.h>

/* ---- what sluice adds -------------------------------------------------- */

static JsonNode *
json (const char *text)
{
  g_autoptr(GError) error = NULL;
  JsonNode *node = json_from_string (text, &error);

  g_assert_no_error (error);
  return node;
}

/* Renders template with data (JSON text); NULL and the error message in
 * *message when compiling or rendering fails. */
static char *
render_full (SluiceMustacheFlags flags,
             const char         *template_text,
             const char         *data,
             const char * const *partials,
             char              **message)
{
  g_autoptr(SluiceMustacheLibrary) lib = sluice_mustache_library_new (flags);
  g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_mustache_problem_free);
  g_autoptr(SluiceMustache) template = NULL;
  g_autoptr(JsonNode) root = json (data);
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GError) error = NULL;

  for (guint i = 0; partials != NULL && partials[i] != NULL; i += 2)
    sluice_mustache_library_add_partial (lib, partials[i], partials[i + 1], NULL);
  template = sluice_mustache_compile (lib, template_text, problems);
  if (template == NULL)
    {
      if (message != NULL)
        *message = sluice_mustache_problems_to_message (problems, "template");
      return NULL;
    }
  if (!sluice_mustache_render (template, root, out, &error))
    {
      if (message != NULL)
        *message = g_strdup (error->message);
      return NULL;
    }
  return g_strdup (out->str);
}

static char *
render (const char *template_text,
        const char *data)
{
  return render_full (SLUICE_MUSTACHE_FLAGS_NONE, template_text, data, NULL, NULL);
}

static void
assert_render (const char *template_text,
               const char *data,
               const char *expected)
{
  g_autofree char *got = render (template_text, data);

  g_assert_cmpstr (got, ==, expected);
}

static void
assert_compile_error (SluiceMustacheFlags  flags,
                      const char          *template_text,
                      const char * const  *partials,
                      const char          *expected)
{
  g_autofree char *message = NULL;
  g_autofree char *got = render_full (flags, template_text, "{}", partials, &message);

  g_assert_null (got);
  g_assert_cmpstr (message, ==, expected);
}

static void
test_no_escaping_by_default (void)
{
  assert_render ("{{x}}|{{{x}}}|{{&x}}", "{\"x\": \"a < b && \\\"c\\\" > d\"}",
                 "a < b && \"c\" > d|a < b && \"c\" > d|a < b && \"c\" > d");
  {
    g_autofree char *escaped = render_full (SLUICE_MUSTACHE_ESCAPE_HTML, "{{x}}|{{{x}}}",
                                            "{\"x\": \"<&\\\">\"}", NULL, NULL);

    g_assert_cmpstr (escaped, ==, "&lt;&amp;&quot;&gt;|<&\">");
  }
}

static void
test_values (void)
{
  assert_render ("{{i}} {{d}} {{e}} {{t}} {{f}} [{{n}}] {{o}} {{a}}",
                 "{\"i\": 42, \"d\": 1.210, \"e\": 1e21, \"t\": true, \"f\": false, \"n\": null,"
                 " \"o\": {\"k\": [1, \"two\"]}, \"a\": [1, 2.5, null]}",
                 "42 1.21 1e+21 true false [] {\"k\":[1,\"two\"]} [1,2.5,null]");
  /* Falsy: false, null, missing, "", []. Truthy: 0 and {}. */
  assert_render ("{{#f}}f{{/f}}{{#n}}n{{/n}}{{#m}}m{{/m}}{{#s}}s{{/s}}{{#l}}l{{/l}}{{#z}}z{{/z}}{{#o}}o{{/o}}",
                 "{\"f\": false, \"n\": null, \"s\": \"\", \"l\": [], \"z\": 0, \"o\": {}}", "zo");
  assert_render ("{{#items}}- {{name}} ({{price}})\n{{/items}}{{^items}}none{{/items}}",
                 "{\"items\": [{\"name\": \"tea\", \"price\": 2}, {\"name\": \"cake\", \"price\": 3.5}]}",
                 "- tea (2)\n- cake (3.5)\n");
}

static void
test_strict (void)
{
  g_autofree char *message = NULL;
  g_autofree char *got = render_full (SLUICE_MUSTACHE_STRICT, "Hello\n  {{user.name}}!", "{\"user\": {}}",
                                      NULL, &message);

  g_assert_null (got);
  g_assert_cmpstr (message, ==, "needs 'user.name', which the input does not have (line 2, column 3)");

  /* A section on a missing name is false, not an error; null is empty. */
  g_clear_pointer (&got, g_free);
  got = render_full (SLUICE_MUSTACHE_STRICT, "{{#notes}}Notes: {{notes}}{{/notes}}[{{n}}]",
                     "{\"n\": null}", NULL, NULL);
  g_assert_cmpstr (got, ==, "[]");
}

static void
test_compile_errors (void)
{
  static const char * const partials[] = { "a", "A{{>b}}", "b", "B\n  {{>a}}", "ok", "fine", "bad", "x {{#y}}", NULL };

  assert_compile_error (0, "one\ntwo {{name\nthree", NULL,
                        "template, line 2, column 5: tag is not closed: no '}}' after '{{'");
  assert_compile_error (0, "{{! a comment", NULL,
                        "template, line 1, column 1: comment '{{' is not closed: no '}}' after it");
  assert_compile_error (0, "x\n {{#a}}\n{{/b}}", NULL,
                        "template, line 3, column 1: '/b' closes '#a', opened at line 2, column 2");
  assert_compile_error (0, "{{#a}}{{^b}}", NULL,
                        "template, line 1, column 7: '^b' is never closed: add '{{/b}}' where it ends");
  assert_compile_error (0, "{{/a}}", NULL, "template, line 1, column 1: '/a' closes no section");
  assert_compile_error (0, "{{a b}}", NULL,
                        "template, line 1, column 1: '{{a b}}' is not a valid name (a name has no "
                        "spaces, and dots only between its parts)");
  assert_compile_error (0, "{{}}", NULL, "template, line 1, column 1: '{{}}' names nothing");
  assert_compile_error (0, "{{=<% %>=}} <%x}}", NULL,
                        "template, line 1, column 13: tag is not closed: no '%>' after '<%'");
  assert_compile_error (0, "{{= a =}}", NULL,
                        "template, line 1, column 1: a delimiter change needs two delimiters without "
                        "'=' or spaces, shorter than 16 bytes: {{ new-open new-close =}}");
  /* Partials: missing, recursive, broken; each where it is. */
  assert_compile_error (0, "{{>nope}}", partials,
                        "template, line 1, column 1: no partial named 'nope' (declared: a, b, bad, ok)");
  assert_compile_error (0, "x {{>a}}", partials,
                        "b:2:3: partial 'a' includes itself (a → b → a)");
  assert_compile_error (0, "{{>ok}}{{>bad}}", partials,
                        "bad:1:3: '#y' is never closed: add '{{/y}}' where it ends");
}

static void
test_partials_indented (void)
{
  static const char * const partials[] = { "rules", "- be brief\n- be kind\n", NULL };
  g_autofree char *got = render_full (0, "Rules:\n  {{>rules}}\nEnd\n", "{}", partials, NULL);

  g_assert_cmpstr (got, ==, "Rules:\n  - be brief\n  - be kind\nEnd\n");
}

/* The spec lets a partial include itself; sluice bounds the depth. */
static void
test_recursion_bounded (void)
{
  static const char * const partials[] = { "loop", "x{{>loop}}", NULL };
  g_autofree char *message = NULL;
  g_autofree char *got = render_full (SLUICE_MUSTACHE_LENIENT_PARTIALS, "{{>loop}}", "{}", partials, &message);

  g_assert_null (got);
  g_assert_cmpstr (message, ==, "nests partials more than 64 deep (partial 'loop', line 1, column 2)");
}

/* Partials that double at each level would render 2^40 times: the output
 * limit stops them. */
static void
test_output_limit (void)
{
  GPtrArray *partials = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(SluiceMustacheLibrary) lib = sluice_mustache_library_new (0);
  g_autoptr(SluiceMustache) template = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) data = json ("{}");

  for (guint i = 0; i < 40; i++)
    {
      g_autofree char *name = g_strdup_printf ("p%u", i);
      g_autofree char *text = g_strdup_printf ("{{>p%u}}{{>p%u}}", i + 1, i + 1);

      sluice_mustache_library_add_partial (lib, name, text, NULL);
    }
  sluice_mustache_library_add_partial (lib, "p40", "0123456789abcdef", NULL);
  sluice_mustache_library_set_max_output (lib, 1 << 20);
  template = sluice_mustache_compile (lib, "{{>p0}}", NULL);
  g_assert_nonnull (template);
  g_assert_false (sluice_mustache_render (template, data, out, &error));
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT);
  g_assert_cmpstr (error->message, ==, "passes 1 MiB when rendered (partial 'p40', line 1, column 1)");
  g_assert_cmpuint (out->len, ==, 0);
  g_ptr_array_unref (partials);
}

/* Work that writes almost nothing is bounded too: sections over lists
 * found through outer sections (n x n x n) and partials that include the
 * next one four times (4^30) stop at the step limit, quickly. */
static void
test_render_steps (void)
{
  g_autoptr(SluiceMustacheLibrary) lib = sluice_mustache_library_new (0);
  g_autoptr(SluiceMustache) nested = sluice_mustache_compile (lib,
    "{{#orders}}{{#items}}{{#options}}{{#gift}}(gift){{/gift}}{{/options}}{{/items}}{{/orders}}", NULL);
  g_autoptr(SluiceMustache) fanned = NULL;
  g_autoptr(GString) list = g_string_new ("[{}");
  g_autoptr(JsonNode) data = NULL;
  g_autoptr(JsonNode) empty = json ("{}");
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  /* the mechanism, at a smaller limit: 100^3 is past 200,000 */
  sluice_mustache_library_set_max_steps (lib, 200000);
  for (guint i = 1; i < 100; i++)
    g_string_append (list, ",{}");
  g_string_append (list, "]");
  text = g_strdup_printf ("{\"orders\": %s, \"items\": %s, \"options\": %s}", list->str, list->str, list->str);
  data = json (text);
  g_assert_false (sluice_mustache_render (nested, data, out, &error));
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT);
  g_assert_true (g_str_has_prefix (error->message, "takes more than 200000 rendering steps for this input"));
  g_clear_error (&error);

  for (guint i = 0; i < 30; i++)
    {
      g_autofree char *name = g_strdup_printf ("l%u", i);
      g_autofree char *body = g_strdup_printf ("{{>l%u}}{{>l%u}}{{>l%u}}{{>l%u}}", i + 1, i + 1, i + 1, i + 1);

      sluice_mustache_library_add_partial (lib, name, body, NULL);
    }
  sluice_mustache_library_add_partial (lib, "l30", "", NULL);
  fanned = sluice_mustache_compile (lib, "{{>l0}}", NULL);
  g_assert_false (sluice_mustache_render (fanned, empty, out, &error));
  g_assert_true (g_str_has_prefix (error->message, "takes more than 200000 rendering steps for this input"));
  g_assert_cmpuint (out->len, ==, 0);
}

static void
test_invalid_utf8 (void)
{
  g_autoptr(SluiceMustacheLibrary) lib = sluice_mustache_library_new (0);
  g_autoptr(SluiceMustache) template = sluice_mustache_compile (lib, "a {{x}} b {{y}}", NULL);
  g_autoptr(JsonNode) data = json_node_new (JSON_NODE_OBJECT);
  g_autoptr(JsonObject) object = json_object_new ();
  g_autoptr(JsonArray) list = json_array_new ();
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GError) error = NULL;

  json_object_set_string_member (object, "x", "ok \xc3\xa9 then \xff bad");
  json_node_set_object (data, object);
  g_assert_false (sluice_mustache_render (template, data, out, &error));
  g_assert_cmpstr (error->message, ==, "cannot use 'x': it is not valid UTF-8 (byte 11) (line 1, column 3)");
  g_clear_error (&error);

  json_object_set_string_member (object, "x", "fine");
  json_array_add_string_element (list, "\xc3");
  json_object_set_array_member (object, "y", g_steal_pointer (&list));
  g_assert_false (sluice_mustache_render (template, data, out, &error));
  g_assert_cmpstr (error->message, ==, "cannot use 'y': it holds text that is not valid UTF-8 (line 1, column 11)");
}

static JsonNode *
big_data (gsize  text_len,
          guint  n_items)
{
  g_autoptr(JsonObject) object = json_object_new ();
  g_autoptr(JsonArray) items = json_array_new ();
  JsonNode *data = json_node_new (JSON_NODE_OBJECT);
  char *big = g_malloc (text_len + 1);

  memset (big, 'a', text_len);
  big[text_len - 1] = '&';
  big[text_len] = '\0';
  json_object_set_string_member (object, "big", big);
  g_free (big);
  for (guint i = 0; i < n_items; i++)
    {
      JsonObject *item = json_object_new ();

      json_object_set_int_member (item, "n", i % 10);
      json_array_add_object_element (items, item);
    }
  json_object_set_array_member (object, "items", g_steal_pointer (&items));
  json_node_set_object (data, object);
  return data;
}

static gint64
time_render (SluiceMustache *template,
             JsonNode       *data,
             GString        *out)
{
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();

  g_string_truncate (out, 0);
  g_assert_true (sluice_mustache_render (template, data, out, &error));
  g_assert_no_error (error);
  return g_get_monotonic_time () - start;
}

/* 50 MB in a value renders (escaped), and rendering is linear: four times
 * the text and the items take about four times as long, not sixteen. */
static void
test_large_inputs (void)
{
  g_autoptr(SluiceMustacheLibrary) lib = sluice_mustache_library_new (SLUICE_MUSTACHE_ESCAPE_HTML);
  g_autoptr(SluiceMustache) template =
    sluice_mustache_compile (lib, "<{{big}}>{{#items}}{{n}},{{/items}}", NULL);
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(JsonNode) huge = big_data (50000000, 10);
  g_autoptr(JsonNode) small = big_data (1000000, 20000);
  g_autoptr(JsonNode) large = big_data (4000000, 80000);
  gint64 t_small, t_large, t_huge;

  t_huge = time_render (template, huge, out);
  g_test_message ("50 MB (escaped) rendered in %" G_GINT64_FORMAT " µs", t_huge);
  g_assert_cmpuint (out->len, ==, 1 + 49999999 + 5 + 1 + 20);
  g_assert_cmpint (memcmp (out->str + 49999997, "aaa&amp;>0,1,", 13), ==, 0);

  time_render (template, small, out);   /* warm up */
  t_small = time_render (template, small, out);
  t_large = time_render (template, large, out);
  g_test_message ("rendered in %" G_GINT64_FORMAT " µs, four times as much in %" G_GINT64_FORMAT " µs",
                  t_small, t_large);
  g_assert_cmpint (t_large, <, 8 * t_small + 50000);
}

static void
test_nesting_limits (void)
{
  g_autoptr(GString) deep = g_string_new (NULL);
  g_autoptr(GString) partial = g_string_new (NULL);
  g_autofree char *message = NULL;
  g_autofree char *got = NULL;
  const char *partials[] = { "p", NULL, NULL };

  for (guint i = 0; i < 101; i++)
    g_string_append (deep, "{{#a}}");
  got = render_full (0, deep->str, "{}", NULL, &message);
  g_assert_null (got);
  g_assert_cmpstr (message, ==, "template, line 1, column 601: sections nest more than 100 deep here");

  /* 20 sections in a partial that includes itself: the renderer's own
   * bound stops it before the partial depth does. */
  for (guint i = 0; i < 20; i++)
    g_string_append (partial, "{{#a}}");
  g_string_append (partial, "{{>p}}");
  for (guint i = 0; i < 20; i++)
    g_string_append (partial, "{{/a}}");
  partials[1] = partial->str;
  g_clear_pointer (&message, g_free);
  got = render_full (SLUICE_MUSTACHE_LENIENT_PARTIALS, "{{>p}}", "{\"a\": true}", partials, &message);
  g_assert_null (got);
  g_assert_true (g_str_has_prefix (message, "nests sections and partials more than 1000 deep (partial 'p', line 1, column "));
}

/* A million tags compile (about 230 MB at the peak); one more is refused. */
static void
test_many_tags (void)
{
  g_autoptr(SluiceMustacheLibrary) lib = sluice_mustache_library_new (0);
  g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_mustache_problem_free);
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(SluiceMustache) template = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(JsonNode) data = json ("{\"a\": \"x\"}");
  g_autoptr(GError) error = NULL;
  g_autofree char *message = NULL;

  for (guint i = 0; i < SLUICE_MUSTACHE_MAX_TAGS; i++)
    g_string_append (text, "{{a}}");
  template = sluice_mustache_compile (lib, text->str, problems);
  g_assert_nonnull (template);
  g_assert_true (sluice_mustache_render (template, data, out, &error));
  g_assert_cmpuint (out->len, ==, SLUICE_MUSTACHE_MAX_TAGS);

  g_string_append (text, "\n{{a}}");
  g_clear_pointer (&template, sluice_mustache_unref);
  template = sluice_mustache_compile (lib, text->str, problems);
  g_assert_null (template);
  message = sluice_mustache_problems_to_message (problems, "template");
  g_assert_cmpstr (message, ==, "template, line 2, column 1: a template may hold at most 1000000 tags");
}

/* Random templates made of Mustache's pieces: each compiles or says why,
 * renders or says why; nothing crashes, hangs or leaks. */
static void
test_random_templates (void)
{
  static const char * const pieces[] = {
    "{{", "}}", "{{{", "}}}", "#", "^", "/", "!", ">", "&", "=", "$", "<", "*", "a", "b", "p", ".",
    " ", "\n", "  ", "\r\n", "x", "{{#a}}", "{{/a}}", "{{^b}}", "{{/b}}", "{{>p}}", "{{<p}}", "{{/p}}",
    "{{$a}}", "{{=| |=}}", "|", "{{a}}", "{{.}}", "{{>*p}}", "\xc3\xa9",
  };
  g_autoptr(JsonNode) data = json ("{\"a\": [1, {\"b\": \"<x>\"}, [2]], \"b\": true, \"p\": \"p\"}");

  for (guint round = 0; round < 5000; round++)
    {
      g_autoptr(SluiceMustacheLibrary) lib = sluice_mustache_library_new (
        (round % 2 ? SLUICE_MUSTACHE_LENIENT_PARTIALS : 0) | (round % 3 ? SLUICE_MUSTACHE_ESCAPE_HTML : 0) |
        (round % 5 ? 0 : SLUICE_MUSTACHE_STRICT));
      g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_mustache_problem_free);
      g_autoptr(SluiceMustache) template = NULL;
      g_autoptr(GString) text = g_string_new (NULL);
      g_autoptr(GString) partial = g_string_new (NULL);
      g_autoptr(GString) out = g_string_new (NULL);
      g_autoptr(GError) error = NULL;
      guint n = (guint) g_test_rand_int_range (0, 30);

      for (guint i = 0; i < n; i++)
        g_string_append (text, pieces[g_test_rand_int_range (0, G_N_ELEMENTS (pieces))]);
      n = (guint) g_test_rand_int_range (0, 12);
      for (guint i = 0; i < n; i++)
        g_string_append (partial, pieces[g_test_rand_int_range (0, G_N_ELEMENTS (pieces))]);
      sluice_mustache_library_add_partial (lib, "p", partial->str, NULL);
      sluice_mustache_library_set_max_output (lib, 1 << 20);

      template = sluice_mustache_compile (lib, text->str, problems);
      if (template == NULL)
        {
          g_assert_cmpuint (problems->len, >, 0);
          continue;
        }
      sluice_mustache_check_names (template, data, problems);
      if (!sluice_mustache_render (template, data, out, &error))
        g_assert_nonnull (error);
    }
}

static char *
check_names (const char *template_text,
             const char *schema,
             const char * const *partials)
{
  g_autoptr(SluiceMustacheLibrary) lib = sluice_mustache_library_new (0);
  g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_mustache_problem_free);
  g_autoptr(SluiceMustache) template = NULL;
  g_autoptr(JsonNode) root = json (schema);
  GString *out = g_string_new (NULL);

  for (guint i = 0; partials != NULL && partials[i] != NULL; i += 2)
    sluice_mustache_library_add_partial (lib, partials[i], partials[i + 1], NULL);
  template = sluice_mustache_compile (lib, template_text, problems);
  g_assert_nonnull (template);
  sluice_mustache_check_names (template, root, problems);
  for (guint i = 0; i < problems->len; i++)
    {
      SluiceMustacheProblem *p = g_ptr_array_index (problems, i);

      g_string_append_printf (out, "%s:%u:%u: [%s] %s\n", p->file != NULL ? p->file : "-",
                              p->line, p->column, p->snippet, p->message);
    }
  return g_string_free (out, FALSE);
}

static void
test_check_names (void)
{
  static const char schema[] =
    "{\"type\": \"object\", \"required\": [\"text\"],"
    " \"properties\": {\"text\": {\"type\": \"string\"},"
    "   \"user\": {\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\"}}},"
    "   \"examples\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/$defs/example\"}},"
    "   \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}},"
    "   \"extra\": {\"type\": \"object\"}},"
    " \"$defs\": {\"example\": {\"type\": \"object\", \"properties\": {\"q\": {}, \"a\": {}}}}}";
  static const char * const partials[] = { "shots", "{{#examples}}Q: {{q}}\nA: {{answer}}\n{{/examples}}", NULL };
  g_autofree char *warnings = check_names (
    "{{text}} {{txet}} {{user.name}} {{user.age}}\n"
    "{{#examples}}{{q}} {{a}} {{text}} {{zz}}{{/examples}}\n"
    "{{#tags}}{{.}} {{text}}{{/tags}} {{extra.anything}} {{#user}}{{name}}{{/user}}\n"
    "{{^missing}}none{{/missing}}\n{{>shots}}", schema, partials);

  g_assert_cmpstr (warnings, ==,
    "-:1:10: [{{txet}}] 'txet' is not declared by the pipeline's input schema\n"
    "-:1:33: [{{user.age}}] 'user.age' is not declared by the pipeline's input schema ('user' has no property 'age')\n"
    "-:2:35: [{{zz}}] 'zz' is not declared by the pipeline's input schema\n"
    "-:4:1: [{{^missing}}] 'missing' is not declared by the pipeline's input schema\n"
    "shots:2:4: [{{answer}}] 'answer' is not declared by the pipeline's input schema\n");

  /* No schema, or a schema that names nothing: nothing to say. */
  g_clear_pointer (&warnings, g_free);
  warnings = check_names ("{{anything}}", "{\"type\": \"object\"}", NULL);
  g_assert_cmpstr (warnings, ==, "");
  g_clear_pointer (&warnings, g_free);
  warnings = check_names ("{{anything}}", "{\"properties\": {\"a\": {}}, \"additionalProperties\": {}}", NULL);
  g_assert_cmpstr (warnings, ==, "");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mustache/no-escaping-by-default", test_no_escaping_by_default);
  g_test_add_func ("/mustache/values", test_values);
  g_test_add_func ("/mustache/strict", test_strict);
  g_test_add_func ("/mustache/render-steps", test_render_steps);
  g_test_add_func ("/mustache/compile-errors", test_compile_errors);
  g_test_add_func ("/mustache/partials-indented", test_partials_indented);
  g_test_add_func ("/mustache/recursion-bounded", test_recursion_bounded);
  g_test_add_func ("/mustache/output-limit", test_output_limit);
  g_test_add_func ("/mustache/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/mustache/large-inputs", test_large_inputs);
  g_test_add_func ("/mustache/check-names", test_check_names);
  g_test_add_func ("/mustache/nesting-limits", test_nesting_limits);
  g_test_add_func ("/mustache/random-templates", test_random_templates);
  g_test_add_func ("/mustache/many-tags", test_many_tags);
  return g_test_run ();
}
