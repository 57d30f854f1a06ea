/* sluice-sanitize-tree.c — which strings of a request the sanitize stage
 * rewrites, in copies of its own, and putting originals back into an
 * answer (see sluice-sanitize-private.h)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-sanitize-private.h"
#include "sluice-schema-private.h"

#include <string.h>

/* json_node_copy() shares objects and arrays: the input belongs to the
 * caller (a batch job, a test), so the stage writes into a tree of its
 * own. */
static JsonNode *
deep_copy (JsonNode *node)
{
  JsonNode *copy;

  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *object = json_object_new ();
      JsonObjectIter iter;
      const char *name;
      JsonNode *member;

      json_object_iter_init_ordered (&iter, json_node_get_object (node));
      while (json_object_iter_next_ordered (&iter, &name, &member))
        json_object_set_member (object, name, deep_copy (member));
      copy = json_node_init_object (json_node_alloc (), object);
      json_object_unref (object);
      return copy;
    }
  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *source = json_node_get_array (node);
      JsonArray *array = json_array_sized_new (json_array_get_length (source));

      for (guint i = 0; i < json_array_get_length (source); i++)
        json_array_add_element (array, deep_copy (json_array_get_element (source, i)));
      copy = json_node_init_array (json_node_alloc (), array);
      json_array_unref (array);
      return copy;
    }
  /* a parsed tree is sealed, and so would a copy of its string be */
  if (json_node_get_value_type (node) == G_TYPE_STRING)
    return json_node_init_string (json_node_alloc (), json_node_get_string (node));
  /* A long integer may be a card, a phone or an account number sent as a
   * JSON number: the templates render it as its digits all the same, so
   * it becomes those digits, for the scanners to see. */
  if (json_node_get_value_type (node) == G_TYPE_INT64 &&
      (json_node_get_int (node) >= 100000000 || json_node_get_int (node) <= -100000000))
    {
      g_autofree char *digits = g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));

      return json_node_init_string (json_node_alloc (), digits);
    }
  return json_node_copy (node);
}

static void
leaf_clear (gpointer data)
{
  g_free (((SluiceSanitizeLeaf *) data)->path);
}

/* Every string under @node; @seen keeps a string that two fields reach
 * from being done twice. */
static void
add_leaves (JsonNode   *node,
            const char *path,
            GArray     *leaves,
            GHashTable *seen)
{
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObjectIter iter;
      const char *name;
      JsonNode *member;

      json_object_iter_init_ordered (&iter, json_node_get_object (node));
      while (json_object_iter_next_ordered (&iter, &name, &member))
        {
          g_autofree char *child = sluice_json_pointer_append (path, name);

          add_leaves (member, child, leaves, seen);
        }
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          g_autofree char *index = g_strdup_printf ("%u", i);
          g_autofree char *child = sluice_json_pointer_append (path, index);

          add_leaves (json_array_get_element (array, i), child, leaves, seen);
        }
    }
  else if (json_node_get_value_type (node) == G_TYPE_STRING && g_hash_table_add (seen, node))
    {
      SluiceSanitizeLeaf leaf = { node, g_strdup (path) };

      g_array_append_val (leaves, leaf);
    }
}

/* Replaces every variable by a copy of its own. */
static void
own_variables (JsonObject *variables)
{
  /* replacing a member frees its name: the list must own copies */
  g_autoptr(GList) members = json_object_get_members (variables);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  for (GList *l = members; l != NULL; l = l->next)
    g_ptr_array_add (names, g_strdup (l->data));
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);

      json_object_set_member (variables, name, deep_copy (json_object_get_member (variables, name)));
    }
}

GArray *
sluice_sanitize_collect (SluiceContext *context,
                         GPtrArray     *fields)
{
  GArray *leaves = g_array_new (FALSE, FALSE, sizeof (SluiceSanitizeLeaf));
  g_autoptr(GHashTable) seen = g_hash_table_new (NULL, NULL);
  JsonObject *variables = sluice_context_get_variables (context);
  JsonArray *messages = sluice_context_get_messages (context);
  JsonNode *input_messages = json_object_get_member (variables, "messages");
  gboolean messages_from_input = messages != NULL && input_messages != NULL &&
                                 JSON_NODE_HOLDS_ARRAY (input_messages) &&
                                 json_node_get_array (input_messages) == messages;
  g_autoptr(JsonNode) root = NULL;
  gboolean all = fields == NULL;

  g_array_set_clear_func (leaves, leaf_clear);
  for (guint i = 0; fields != NULL && i < fields->len; i++)
    all |= *(const char *) g_ptr_array_index (fields, i) == '\0';

  own_variables (variables);
  root = json_node_init_object (json_node_alloc (), variables);
  if (!all)
    {
      for (guint i = 0; i < fields->len; i++)
        {
          const char *pointer = g_ptr_array_index (fields, i);
          JsonNode *node = sluice_json_pointer_resolve (root, pointer);

          if (node != NULL)
            add_leaves (node, pointer, leaves, seen);
        }
      return leaves;
    }
  add_leaves (root, "", leaves, seen);

  /* Messages a batch line brought are its input's `messages`: they take
   * the sanitized copy. Messages from elsewhere (an earlier assemble)
   * have their contents done here. */
  if (messages == NULL)
    return leaves;
  if (messages_from_input)
    sluice_context_set_messages (context, json_node_get_array (json_object_get_member (variables, "messages")));
  else
    {
      g_autoptr(JsonNode) wrapped = json_node_init_array (json_node_alloc (), messages);
      g_autoptr(JsonNode) copy = deep_copy (wrapped);
      JsonArray *array = json_node_get_array (copy);

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *message = json_array_get_element (array, i);
          JsonNode *content = JSON_NODE_HOLDS_OBJECT (message)
                                ? json_object_get_member (json_node_get_object (message), "content") : NULL;
          g_autofree char *path = g_strdup_printf ("(messages)/%u/content", i);

          if (content != NULL)
            add_leaves (content, path, leaves, seen);
        }
      sluice_context_set_messages (context, array);
    }
  return leaves;
}

/* ---- restoring ----------------------------------------------------------- */

static char *
restore_text (const char *text,
              GHashTable *originals)
{
  GString *out = NULL;
  const char *done = text, *p = text, *end = text + strlen (text);

  while ((p = memchr (p, '[', end - p)) != NULL)
    {
      /* placeholders are short ("[EMPLOYEE_ID_12]"): look no further */
      const char *close = memchr (p, ']', MIN (end - p, 80));
      g_autofree char *candidate = NULL;
      const char *original;

      if (close == NULL)
        {
          p++;
          continue;
        }
      candidate = g_strndup (p, close - p + 1);
      original = g_hash_table_lookup (originals, candidate);
      if (original == NULL)
        {
          p++;
          continue;
        }
      if (out == NULL)
        out = g_string_new (NULL);
      g_string_append_len (out, done, p - done);
      g_string_append (out, original);
      done = p = close + 1;
    }
  if (out == NULL)
    return NULL;
  g_string_append (out, done);
  return g_string_free (out, FALSE);
}

JsonNode *
sluice_sanitize_restore (JsonNode   *node,
                         GHashTable *originals)
{
  JsonNode *copy = deep_copy (node);
  g_autoptr(GArray) leaves = g_array_new (FALSE, FALSE, sizeof (SluiceSanitizeLeaf));
  g_autoptr(GHashTable) seen = g_hash_table_new (NULL, NULL);

  g_array_set_clear_func (leaves, leaf_clear);
  add_leaves (copy, "", leaves, seen);
  for (guint i = 0; i < leaves->len; i++)
    {
      JsonNode *leaf = g_array_index (leaves, SluiceSanitizeLeaf, i).node;
      g_autofree char *restored = restore_text (json_node_get_string (leaf), originals);

      if (restored != NULL)
        json_node_set_string (leaf, restored);
    }
  return copy;
}
