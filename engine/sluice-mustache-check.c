/* sluice-mustache-check.c: the templates of a stage block, checked by the
 * pipeline loader (so by `sluice check`) with their positions
 *
 * A plugin's configuration schema marks its template strings with
 * "x-sluice-template": true and the map of partials they may include with
 * "x-sluice-partials": true; no plugin code is loaded to find them. Each
 * template is compiled with the partials (read relative to the pipeline
 * file): a tag that is not closed, a partial that is missing, unreadable,
 * broken or includes itself is an error; a name the pipeline's input
 * schema does not declare is a warning. A problem in a partial file is
 * reported at its place in that file; one in a template of the pipeline
 * file at the tag's place in the pipeline file, found by looking for the
 * tag's text from where the string starts (so quoting, block scalars and
 * indentation do not shift it), else at the string's start.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-mustache"

#include "sluice-private.h"
#include "sluice-document-private.h"
#include "sluice-mustache-private.h"
#include "sluice-schema-private.h"

#include <string.h>

typedef enum {
  FOUND_TEMPLATE,   /* the string is a template */
  FOUND_FILE,       /* the string names a template file */
  FOUND_FIELD,      /* the string is a dotted name of the data */
} FoundKind;

typedef struct {
  JsonNode  *node;
  char      *pointer;
  FoundKind  kind;
} Found;

static void
found_free (Found *found)
{
  g_free (found->pointer);
  g_free (found);
}

static gboolean
annotated (JsonObject *schema,
           const char *keyword)
{
  JsonNode *node = json_object_get_member (schema, keyword);

  return node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
         json_node_get_value_type (node) == G_TYPE_BOOLEAN && json_node_get_boolean (node);
}

/* Walks instance along schema, collecting the strings marked as templates
 * and the object marked as partials. */
static void
collect (JsonNode   *schema,
         JsonNode   *instance,
         const char *pointer,
         GPtrArray  *templates,
         GHashTable *seen,
         Found     **partials,
         guint       depth)
{
  static const char * const combinators[] = { "allOf", "anyOf", "oneOf" };
  JsonObject *object;
  JsonNode *node;

  if (schema == NULL || !JSON_NODE_HOLDS_OBJECT (schema) || instance == NULL || depth > 32)
    return;
  object = json_node_get_object (schema);

  if (JSON_NODE_HOLDS_VALUE (instance) && json_node_get_value_type (instance) == G_TYPE_STRING)
    {
      static const char * const keywords[] = { "x-sluice-template", "x-sluice-template-file", "x-sluice-field" };

      for (guint k = 0; k < G_N_ELEMENTS (keywords); k++)
        if (annotated (object, keywords[k]) && g_hash_table_add (seen, instance))
          {
            Found *found = g_new0 (Found, 1);

            found->node = instance;
            found->pointer = g_strdup (pointer);
            found->kind = (FoundKind) k;
            g_ptr_array_add (templates, found);
          }
    }
  if (annotated (object, "x-sluice-partials") && JSON_NODE_HOLDS_OBJECT (instance) && *partials == NULL)
    {
      *partials = g_new0 (Found, 1);
      (*partials)->node = instance;
      (*partials)->pointer = g_strdup (pointer);
    }

  if (JSON_NODE_HOLDS_OBJECT (instance))
    {
      JsonNode *properties = json_object_get_member (object, "properties");
      JsonNode *additional = json_object_get_member (object, "additionalProperties");
      JsonObjectIter iter;
      const char *name;
      JsonNode *member;

      json_object_iter_init (&iter, json_node_get_object (instance));
      while (json_object_iter_next (&iter, &name, &member))
        {
          JsonNode *sub = properties != NULL && JSON_NODE_HOLDS_OBJECT (properties)
                          ? json_object_get_member (json_node_get_object (properties), name) : NULL;
          g_autofree char *inner = sluice_json_pointer_append (pointer, name);

          collect (sub != NULL ? sub : additional, member, inner, templates, seen, partials, depth + 1);
        }
    }
  else if (JSON_NODE_HOLDS_ARRAY (instance) && (node = json_object_get_member (object, "items")) != NULL)
    {
      JsonArray *array = json_node_get_array (instance);

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          g_autofree char *index = g_strdup_printf ("%u", i);
          g_autofree char *inner = sluice_json_pointer_append (pointer, index);

          collect (node, json_array_get_element (array, i), inner, templates, seen, partials, depth + 1);
        }
    }

  for (guint k = 0; k < G_N_ELEMENTS (combinators); k++)
    if ((node = json_object_get_member (object, combinators[k])) != NULL && JSON_NODE_HOLDS_ARRAY (node))
      for (guint i = 0; i < json_array_get_length (json_node_get_array (node)); i++)
        collect (json_array_get_element (json_node_get_array (node), i), instance, pointer,
                 templates, seen, partials, depth + 1);
}

/* Byte offset of a 1-based line and column (in characters). */
static gsize
source_offset (const char *source,
               gsize       len,
               guint       line,
               guint       column)
{
  gsize p = 0;

  for (guint l = 1; l < line && p < len; p++)
    if (source[p] == '\n')
      l++;
  for (guint c = 1; c < column && p < len; c++)
    p = (gsize) (g_utf8_next_char (source + p) - source);
  return MIN (p, len);
}

static gsize
count_before (const char *text,
              gsize       offset,
              const char *snippet)
{
  gsize n = 0;

  for (const char *p = text; (p = strstr (p, snippet)) != NULL && (gsize) (p - text) < offset; p++)
    n++;
  return n;
}

/* Where in the pipeline file the problem's tag is: the (k+1)th time its
 * text appears from the string's start, k being how often it appears in
 * the template before it. */
static void
locate (const char            *source,
        gsize                  source_len,
        guint                  line,
        guint                  column,
        const char            *template_text,
        SluiceMustacheProblem *problem,
        guint                 *out_line,
        guint                 *out_column)
{
  gsize start, k, snippet_len = strlen (problem->snippet);
  const char *p;

  *out_line = line;
  *out_column = column;
  if (source == NULL || snippet_len == 0)
    return;
  start = source_offset (source, source_len, line, column);
  k = count_before (template_text, problem->offset, problem->snippet);
  p = source + start;
  for (gsize i = 0; ; i++)
    {
      p = g_strstr_len (p, (gssize) (source + source_len - p), problem->snippet);
      if (p == NULL)
        return;
      if (i == k)
        break;
      p++;
    }
  for (const char *q = source + start; q < p; q = g_utf8_next_char (q))
    {
      if (*q == '\n')
        {
          line++;
          column = 1;
        }
      else
        column++;
    }
  *out_line = line;
  *out_column = column;
}

gboolean
_sluice_check_stage_templates (SluiceDocument *doc,
                               GPtrArray      *diagnostics,
                               const char     *base_dir,
                               JsonNode       *data_schema,
                               const char     *schema_name,
                               JsonNode       *config_schema,
                               JsonNode       *config,
                               const char     *pointer)
{
  g_autoptr(GPtrArray) templates = g_ptr_array_new_with_free_func ((GDestroyNotify) found_free);
  g_autoptr(GHashTable) seen = g_hash_table_new (NULL, NULL);
  g_autoptr(GHashTable) reported = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(SluiceMustacheLibrary) lib = sluice_mustache_library_new (SLUICE_MUSTACHE_FLAGS_NONE);
  /* The same partials, lenient: a template whose partials are broken
   * still has its names checked. */
  g_autoptr(SluiceMustacheLibrary) lenient = sluice_mustache_library_new (SLUICE_MUSTACHE_LENIENT_PARTIALS);
  g_autofree char *source = NULL;
  gsize source_len = 0;
  gboolean source_read = FALSE;
  Found *partials = NULL;
  gboolean ok = TRUE;
  const char *filename = sluice_document_get_filename (doc);

  collect (config_schema, config, pointer, templates, seen, &partials, 0);
  if (templates->len == 0 && partials == NULL)
    return TRUE;

  if (partials != NULL)
    {
      JsonObjectIter iter;
      const char *name;
      JsonNode *path;

      json_object_iter_init (&iter, json_node_get_object (partials->node));
      while (json_object_iter_next (&iter, &name, &path))
        {
          g_autoptr(GError) error = NULL;
          g_autofree char *file = NULL;
          guint line = 0, column = 0;

          if (!JSON_NODE_HOLDS_VALUE (path) || json_node_get_value_type (path) != G_TYPE_STRING)
            continue;
          file = g_path_is_absolute (json_node_get_string (path)) || g_str_equal (base_dir, ".")
                 ? g_strdup (json_node_get_string (path))
                 : g_build_filename (base_dir, json_node_get_string (path), NULL);
          if (sluice_mustache_library_load_partial (lib, name, file, &error))
            {
              sluice_mustache_library_load_partial (lenient, name, file, NULL);
              continue;
            }
          sluice_document_get_node_position (doc, path, &line, &column);
          sluice_diagnostics_add (diagnostics, filename, line, column, FALSE, "%s", error->message);
          ok = FALSE;
          /* Said once, here: the templates that include it are not
           * told again that it is missing. */
          sluice_mustache_library_add_partial (lib, name, "", file);
          sluice_mustache_library_add_partial (lenient, name, "", file);
        }
      found_free (partials);
    }

  for (guint i = 0; i < templates->len; i++)
    {
      Found *found = g_ptr_array_index (templates, i);
      const char *text = json_node_get_string (found->node);
      g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_mustache_problem_free);
      g_autoptr(SluiceMustache) template = NULL;
      g_autofree char *owned = NULL;
      g_autofree char *template_file = NULL;
      guint node_line = 0, node_column = 0;

      sluice_document_get_node_position (doc, found->node, &node_line, &node_column);
      if (found->kind == FOUND_FILE)
        {
          g_autoptr(GError) error = NULL;

          template_file = g_path_is_absolute (text) || g_str_equal (base_dir, ".")
                          ? g_strdup (text) : g_build_filename (base_dir, text, NULL);
          if (!g_file_get_contents (template_file, &owned, NULL, &error))
            {
              sluice_diagnostics_add (diagnostics, filename, node_line, node_column, FALSE,
                                      "template file %s: %s", text, error->message);
              ok = FALSE;
              continue;
            }
          text = owned;
        }
      else if (found->kind == FOUND_FIELD)
        text = owned = g_strconcat ("{{", text, "}}", NULL);

      template = sluice_mustache_compile (lib, text, problems);
      if (template == NULL)
        template = sluice_mustache_compile (lenient, text, NULL);
      if (template != NULL)
        sluice_mustache_check_names_in (template, data_schema, schema_name, problems);
      /* The problems of a template file are at their place in it. */
      for (guint k = 0; template_file != NULL && k < problems->len; k++)
        {
          SluiceMustacheProblem *problem = g_ptr_array_index (problems, k);

          if (problem->file == NULL)
            problem->file = g_strdup (template_file);
        }

      for (guint k = 0; k < problems->len; k++)
        {
          SluiceMustacheProblem *problem = g_ptr_array_index (problems, k);
          guint line = problem->line, column = problem->column;
          const char *file = problem->file;
          g_autofree char *key = NULL;

          if (file == NULL)
            {
              if (!source_read)
                {
                  source_read = TRUE;
                  if (!g_file_get_contents (filename, &source, &source_len, NULL))
                    g_clear_pointer (&source, g_free);
                }
              file = filename;
              locate (source, source_len, node_line, node_column, text, problem, &line, &column);
            }
          /* A partial's problems are its own, whichever template uses it. */
          key = g_strdup_printf ("%s:%u:%u:%s", file, line, column, problem->message);
          if (!g_hash_table_add (reported, g_steal_pointer (&key)))
            continue;
          sluice_diagnostics_add (diagnostics, file, line, column, problem->is_warning, "%s", problem->message);
          ok &= problem->is_warning;
        }
    }
  return ok;
}
