/* sluice-document.c: a pipeline file as a JSON tree that remembers where
 * every node came from
 *
 * YAML and JSON go through the same libyaml event parser (JSON is YAML flow
 * syntax), so both get the same positions and the same diagnostics. The
 * tree is built iteratively from the events: nothing here recurses deeper
 * than SLUICE_DOCUMENT_MAX_DEPTH, which the loader enforces, so a hostile
 * file cannot exhaust the stack.
 */

#define G_LOG_DOMAIN "sluice-document"

#include "sluice-document-private.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <yaml.h>

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

/* Where a node came from: 16 bytes a node. */
typedef struct {
  guint32 line;
  guint32 column;
  guint32 key_line;         /* 0 unless the node is an object member */
  guint32 key_column : 31;
  guint32 from_env : 1;
} NodeInfo;

/* JsonNode* → NodeInfo, open addressing with linear probing, the NodeInfo
 * stored in the slot: 24 bytes a slot, one cache line touched per node. */
typedef struct {
  JsonNode *node;           /* NULL: empty slot */
  NodeInfo info;
} PositionSlot;

typedef struct {
  PositionSlot *slots;
  gsize capacity;           /* a power of two */
  gsize count;
  guint shift;              /* 64 - log2 (capacity) */
} PositionTable;

struct _SluiceDocument {
  gatomicrefcount ref_count;
  char *filename;
  JsonNode *root;
  PositionTable positions;
};

/* ------------------------------------------------------------------ */
/* Position table                                                      */

/* Nodes made one after the other mostly sit on the same memory page, and a
 * random slot per node costs a cache and TLB miss each (a third of the
 * load time of a 10 MB file). So a page's nodes share a window of slots:
 * the page number picks the window (Fibonacci hashing), the offset in the
 * page the slot within it. */
static inline gsize
position_home (const PositionTable *table,
               JsonNode            *node)
{
  guintptr p = (guintptr) node;
  gsize window = (gsize) (((guint64) (p >> 12) * G_GUINT64_CONSTANT (0x9E3779B97F4A7C15)) >> table->shift);

  return (window + ((p & 0xfff) >> 4)) & (table->capacity - 1);
}

static void
position_table_init (PositionTable *table,
                     guint          log2_capacity)
{
  table->capacity = (gsize) 1 << log2_capacity;
  table->shift = 64 - log2_capacity;
  table->count = 0;
  table->slots = g_new0 (PositionSlot, table->capacity);
}

static NodeInfo *
position_table_lookup (const PositionTable *table,
                       JsonNode            *node)
{
  gsize mask = table->capacity - 1;

  for (gsize i = position_home (table, node); ; i = (i + 1) & mask)
    {
      PositionSlot *slot = &table->slots[i];

      if (slot->node == node)
        return &slot->info;
      if (slot->node == NULL)
        return NULL;
    }
}

static void position_table_insert (PositionTable  *table,
                                   JsonNode       *node,
                                   const NodeInfo *info);

static void
position_table_grow (PositionTable *table)
{
  PositionSlot *old = table->slots;
  gsize old_capacity = table->capacity;

  position_table_init (table, 64 - table->shift + 1);
  for (gsize i = 0; i < old_capacity; i++)
    if (old[i].node != NULL)
      position_table_insert (table, old[i].node, &old[i].info);
  g_free (old);
}

/* Inserts or replaces. */
static void
position_table_insert (PositionTable  *table,
                       JsonNode       *node,
                       const NodeInfo *info)
{
  gsize mask;

  /* Keep the load under 0.7 so probe runs stay short. */
  if ((table->count + 1) * 10 > table->capacity * 7)
    position_table_grow (table);

  mask = table->capacity - 1;
  for (gsize i = position_home (table, node); ; i = (i + 1) & mask)
    {
      PositionSlot *slot = &table->slots[i];

      if (slot->node == NULL)
        {
          slot->node = node;
          slot->info = *info;
          table->count++;
          return;
        }
      if (slot->node == node)
        {
          slot->info = *info;
          return;
        }
    }
}

/* Backward-shift deletion: no tombstones, lookups stay short. */
static void
position_table_remove (PositionTable *table,
                       JsonNode      *node)
{
  gsize mask = table->capacity - 1;
  gsize hole;

  for (hole = position_home (table, node); table->slots[hole].node != node; hole = (hole + 1) & mask)
    if (table->slots[hole].node == NULL)
      return;

  for (gsize j = (hole + 1) & mask; table->slots[j].node != NULL; j = (j + 1) & mask)
    {
      gsize home = position_home (table, table->slots[j].node);

      /* Move j into the hole unless its home lies cyclically in (hole, j]. */
      if ((hole < j) ? (home <= hole || home > j) : (home <= hole && home > j))
        {
          table->slots[hole] = table->slots[j];
          hole = j;
        }
    }

  table->slots[hole].node = NULL;
  table->count--;
}

/* ------------------------------------------------------------------ */
/* Document                                                            */

static SluiceDocument *
document_new (const char *filename)
{
  SluiceDocument *doc = g_new0 (SluiceDocument, 1);

  g_atomic_ref_count_init (&doc->ref_count);
  doc->filename = g_strdup (filename);
  position_table_init (&doc->positions, 6);

  return doc;
}

/**
 * sluice_document_ref:
 * @doc: a document
 *
 * Returns: (transfer full): @doc
 */
SluiceDocument *
sluice_document_ref (SluiceDocument *doc)
{
  g_return_val_if_fail (doc != NULL, NULL);

  g_atomic_ref_count_inc (&doc->ref_count);

  return doc;
}

/**
 * sluice_document_unref:
 * @doc: (transfer full) (nullable): a document
 */
void
sluice_document_unref (SluiceDocument *doc)
{
  if (doc == NULL || !g_atomic_ref_count_dec (&doc->ref_count))
    return;

  g_clear_pointer (&doc->root, json_node_unref);
  g_free (doc->positions.slots);
  g_free (doc->filename);
  g_free (doc);
}

/**
 * sluice_document_get_root:
 * @doc: a document
 *
 * Returns: (transfer none): the root of the tree
 */
JsonNode *
sluice_document_get_root (SluiceDocument *doc)
{
  g_return_val_if_fail (doc != NULL, NULL);

  return doc->root;
}

/**
 * sluice_document_get_filename:
 * @doc: a document
 *
 * Returns: (nullable): the file name given when loading
 */
const char *
sluice_document_get_filename (SluiceDocument *doc)
{
  g_return_val_if_fail (doc != NULL, NULL);

  return doc->filename;
}

static const NodeInfo *
document_lookup (SluiceDocument *doc,
                 JsonNode       *node)
{
  return position_table_lookup (&doc->positions, node);
}

static gboolean
set_position (guint  l,
              guint  c,
              guint *line,
              guint *column)
{
  if (line != NULL)
    *line = l;
  if (column != NULL)
    *column = c;

  return TRUE;
}

/**
 * sluice_document_get_node_position:
 * @doc: a document
 * @node: a node of @doc's tree
 * @line: (out) (optional): 1-based line of the node's value
 * @column: (out) (optional): 1-based column of the node's value
 *
 * Returns: %TRUE if @node belongs to @doc
 */
gboolean
sluice_document_get_node_position (SluiceDocument *doc,
                                   JsonNode       *node,
                                   guint          *line,
                                   guint          *column)
{
  const NodeInfo *info;

  g_return_val_if_fail (doc != NULL, FALSE);
  g_return_val_if_fail (node != NULL, FALSE);

  info = document_lookup (doc, node);
  if (info == NULL)
    return FALSE;

  return set_position (info->line, info->column, line, column);
}

/**
 * sluice_document_get_member_position:
 * @doc: a document
 * @object: an object of @doc's tree
 * @member_name: the name of one of @object's members
 * @line: (out) (optional): 1-based line of the member's key
 * @column: (out) (optional): 1-based column of the member's key
 *
 * Returns: %TRUE if @object has the member and belongs to @doc
 */
gboolean
sluice_document_get_member_position (SluiceDocument *doc,
                                     JsonObject     *object,
                                     const char     *member_name,
                                     guint          *line,
                                     guint          *column)
{
  const NodeInfo *info;
  JsonNode *member;

  g_return_val_if_fail (doc != NULL, FALSE);
  g_return_val_if_fail (object != NULL, FALSE);
  g_return_val_if_fail (member_name != NULL, FALSE);

  member = json_object_get_member (object, member_name);
  if (member == NULL)
    return FALSE;

  info = document_lookup (doc, member);
  if (info == NULL || info->key_line == 0)
    return FALSE;

  return set_position (info->key_line, info->key_column, line, column);
}

/**
 * sluice_document_node_is_from_env:
 * @doc: a document
 * @node: a node of @doc's tree
 *
 * Whether @node's value was (partly) taken from an environment variable.
 * Such values may be secrets: never put them in messages or logs.
 * A default written in the file (`${VAR:-default}` with VAR unset) does not
 * count.
 *
 * Returns: %TRUE if an environment variable's value went into @node
 */
gboolean
sluice_document_node_is_from_env (SluiceDocument *doc,
                                  JsonNode       *node)
{
  const NodeInfo *info;

  g_return_val_if_fail (doc != NULL, FALSE);
  g_return_val_if_fail (node != NULL, FALSE);

  info = document_lookup (doc, node);

  return info != NULL && info->from_env;
}

/* One reference token of a JSON Pointer, unescaped; NULL if malformed. */
static char *
pointer_token (const char *start,
               gsize       length)
{
  GString *s = g_string_sized_new (length);

  for (gsize i = 0; i < length; i++)
    {
      if (start[i] != '~')
        {
          g_string_append_c (s, start[i]);
          continue;
        }
      if (i + 1 < length && (start[i + 1] == '0' || start[i + 1] == '1'))
        {
          g_string_append_c (s, start[i + 1] == '0' ? '~' : '/');
          i++;
          continue;
        }
      g_string_free (s, TRUE);
      return NULL;
    }

  return g_string_free (s, FALSE);
}

static gboolean
pointer_index (const char *token,
               guint      *index)
{
  guint64 v;

  if (token[0] == '\0' || (token[0] == '0' && token[1] != '\0'))
    return FALSE;
  for (const char *p = token; *p != '\0'; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  if (strlen (token) > 10)
    return FALSE;

  v = g_ascii_strtoull (token, NULL, 10);
  if (v > G_MAXUINT)
    return FALSE;

  *index = (guint) v;
  return TRUE;
}

/**
 * sluice_document_report:
 * @doc: a document
 * @diagnostics: where the error goes
 * @pointer: a JSON Pointer to what is wrong (see sluice_document_locate())
 * @format: the message, printf-style, one sentence without a period
 *
 * Adds an error at the position in @doc's file of what @pointer names:
 * `file:line:col: error: message`.
 */
void
sluice_document_report (SluiceDocument *doc,
                        GPtrArray      *diagnostics,
                        const char     *pointer,
                        const char     *format,
                        ...)
{
  g_autofree char *message = NULL;
  guint line = 0, column = 0;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  sluice_document_locate (doc, pointer, &line, &column);
  sluice_diagnostics_add (diagnostics, doc->filename, line, column, FALSE, "%s", message);
}

/**
 * sluice_document_locate:
 * @doc: a document
 * @pointer: a JSON Pointer (RFC 6901): `""` is the root,
 *   `"/stages/0/call"` a member of an element of a member
 * @line: (out) (optional): 1-based line
 * @column: (out) (optional): 1-based column
 *
 * Finds where the node @pointer names was written: for an object member
 * the position of its key, for an array element or the root the position
 * of the value. When @pointer goes past what exists, gives the position of
 * the deepest prefix that does exist, so an error about a missing member
 * points at the object that lacks it.
 *
 * Returns: %FALSE if @pointer is malformed or @doc has no root
 */
gboolean
sluice_document_locate (SluiceDocument *doc,
                        const char     *pointer,
                        guint          *line,
                        guint          *column)
{
  const NodeInfo *info;
  JsonNode *node;
  guint l, c;

  g_return_val_if_fail (doc != NULL, FALSE);
  g_return_val_if_fail (pointer != NULL, FALSE);

  if (doc->root == NULL || (pointer[0] != '\0' && pointer[0] != '/'))
    return FALSE;

  /* Check the whole pointer first: a malformed one names nothing. */
  for (const char *p = pointer; *p != '\0'; p++)
    if (*p == '~' && p[1] != '0' && p[1] != '1')
      return FALSE;

  node = doc->root;
  info = document_lookup (doc, node);
  if (info == NULL)
    return FALSE;
  l = info->line;
  c = info->column;

  for (const char *p = pointer; *p == '/'; )
    {
      const char *start = p + 1;
      const char *end = strchr (start, '/');
      g_autofree char *token = NULL;
      JsonNode *child = NULL;
      gboolean use_key = FALSE;

      if (end == NULL)
        end = start + strlen (start);
      token = pointer_token (start, end - start);
      p = end;

      if (JSON_NODE_HOLDS_OBJECT (node))
        {
          child = json_object_get_member (json_node_get_object (node), token);
          use_key = TRUE;
        }
      else if (JSON_NODE_HOLDS_ARRAY (node))
        {
          JsonArray *array = json_node_get_array (node);
          guint i;

          if (pointer_index (token, &i) && i < json_array_get_length (array))
            child = json_array_get_element (array, i);
        }

      if (child == NULL || (info = document_lookup (doc, child)) == NULL)
        break;

      node = child;
      if (use_key && info->key_line > 0)
        {
          l = info->key_line;
          c = info->key_column;
        }
      else
        {
          l = info->line;
          c = info->column;
        }
    }

  return set_position (l, c, line, column);
}

/* ------------------------------------------------------------------ */
/* Plain scalar typing (YAML 1.2 core schema)                          */

typedef enum {
  KIND_NULL,
  KIND_BOOL,
  KIND_INT,
  KIND_DOUBLE,
  KIND_STRING,
} ScalarKind;

typedef struct {
  ScalarKind kind;
  gboolean   b;
  gint64     i;
  double     d;
} ScalarValue;

static gboolean
all_chars (const char *s,
           gboolean  (*accept) (char c))
{
  if (*s == '\0')
    return FALSE;
  for (; *s != '\0'; s++)
    if (!accept (*s))
      return FALSE;
  return TRUE;
}

static gboolean is_dec (char c) { return c >= '0' && c <= '9'; }
static gboolean is_oct (char c) { return c >= '0' && c <= '7'; }
static gboolean is_hex (char c) { return g_ascii_isxdigit (c); }

/* Unsigned integer in @base; too large for int64 becomes a double. */
static void
parse_unsigned (const char  *digits,
                guint        base,
                ScalarValue *v)
{
  guint64 acc = 0;
  double dacc = 0;
  gboolean overflow = FALSE;

  for (const char *p = digits; *p != '\0'; p++)
    {
      guint digit = g_ascii_xdigit_value (*p);

      dacc = dacc * base + digit;
      if (!overflow && acc > ((guint64) G_MAXINT64 - digit) / base)
        overflow = TRUE;
      if (!overflow)
        acc = acc * base + digit;
    }

  if (overflow)
    {
      v->kind = KIND_DOUBLE;
      v->d = dacc;
    }
  else
    {
      v->kind = KIND_INT;
      v->i = (gint64) acc;
    }
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static gboolean
is_core_float (const char *s)
{
  const char *p = s;
  gboolean digits = FALSE;

  if (*p == '+' || *p == '-')
    p++;
  while (is_dec (*p))
    {
      p++;
      digits = TRUE;
    }
  if (*p == '.')
    {
      p++;
      while (is_dec (*p))
        {
          p++;
          digits = TRUE;
        }
    }
  if (!digits)
    return FALSE;
  if (*p == 'e' || *p == 'E')
    {
      p++;
      if (*p == '+' || *p == '-')
        p++;
      if (!is_dec (*p))
        return FALSE;
      while (is_dec (*p))
        p++;
    }

  return *p == '\0';
}

static gboolean
str_in (const char *s,
        const char *a,
        const char *b,
        const char *c)
{
  return strcmp (s, a) == 0 || strcmp (s, b) == 0 || strcmp (s, c) == 0;
}

static void
resolve_plain (const char  *s,
               ScalarValue *v)
{
  const char *unsigned_part = s;

  memset (v, 0, sizeof *v);

  if (s[0] == '\0' || strcmp (s, "~") == 0 || str_in (s, "null", "Null", "NULL"))
    {
      v->kind = KIND_NULL;
      return;
    }
  if (str_in (s, "true", "True", "TRUE") || str_in (s, "false", "False", "FALSE"))
    {
      v->kind = KIND_BOOL;
      v->b = (s[0] == 't' || s[0] == 'T');
      return;
    }

  if (s[0] == '0' && s[1] == 'x' && all_chars (s + 2, is_hex))
    {
      parse_unsigned (s + 2, 16, v);
      return;
    }
  if (s[0] == '0' && s[1] == 'o' && all_chars (s + 2, is_oct))
    {
      parse_unsigned (s + 2, 8, v);
      return;
    }

  if (s[0] == '+' || s[0] == '-')
    unsigned_part = s + 1;
  if (all_chars (unsigned_part, is_dec))
    {
      gint64 i;

      errno = 0;
      i = g_ascii_strtoll (s, NULL, 10);
      if (errno == ERANGE)
        {
          v->kind = KIND_DOUBLE;
          v->d = g_ascii_strtod (s, NULL);
        }
      else
        {
          v->kind = KIND_INT;
          v->i = i;
        }
      return;
    }

  if (str_in (unsigned_part, ".inf", ".Inf", ".INF"))
    {
      v->kind = KIND_DOUBLE;
      v->d = s[0] == '-' ? -INFINITY : INFINITY;
      return;
    }
  if (str_in (s, ".nan", ".NaN", ".NAN"))
    {
      v->kind = KIND_DOUBLE;
      v->d = NAN;
      return;
    }
  if (is_core_float (s))
    {
      v->kind = KIND_DOUBLE;
      v->d = g_ascii_strtod (s, NULL);
      return;
    }

  v->kind = KIND_STRING;
}

/* ------------------------------------------------------------------ */
/* Loader                                                              */

typedef struct {
  JsonNode *node;           /* a reference */
  char *key_text;           /* text of a scalar, so the alias can be a key */
} Anchor;

typedef struct {
  JsonNode *node;
  char *anchor;
  /* mappings only */
  gboolean expect_key;
  char *key;
  guint32 key_line;
  guint32 key_column;
  gboolean key_is_merge;
  gboolean discard_value;
  GPtrArray *merges;        /* owned JsonNode*: objects whose members "<<" adds */
} Frame;

typedef struct {
  SluiceDocument *doc;
  const char *file;
  const char *data;
  gsize length;

  GPtrArray *diagnostics;
  guint n_reported;

  GArray *stack;            /* Frame */
  GHashTable *anchors;      /* name → Anchor* */
  GPtrArray *graveyard;     /* nodes built but left out of the tree */
  guint skip_depth;         /* > 0 while skipping a rejected collection */
  gboolean fatal;           /* stopped early: no tree */
  guint documents;
  guint64 alias_nodes;
  gboolean alias_budget_spent;
} Loader;

static void
loader_vreport (Loader     *ld,
                gboolean    always,
                guint       line,
                guint       column,
                gboolean    warning,
                const char *format,
                va_list     args) G_GNUC_PRINTF (6, 0);

/* Past SLUICE_DOCUMENT_MAX_DIAGNOSTICS one note says the rest were left
 * out (a file with a million duplicate keys should not make a million
 * messages); @always is for the syntax error, which explains a NULL. */
static void
loader_vreport (Loader     *ld,
                gboolean    always,
                guint       line,
                guint       column,
                gboolean    warning,
                const char *format,
                va_list     args)
{
  g_autofree char *message = NULL;

  if (!always && ld->n_reported >= SLUICE_DOCUMENT_MAX_DIAGNOSTICS)
    {
      if (ld->n_reported == SLUICE_DOCUMENT_MAX_DIAGNOSTICS)
        sluice_diagnostics_add (ld->diagnostics, ld->file, 0, 0, FALSE,
                                "too many problems; the rest are not reported");
      ld->n_reported = SLUICE_DOCUMENT_MAX_DIAGNOSTICS + 1;
      return;
    }
  ld->n_reported++;

  message = g_strdup_vprintf (format, args);
  sluice_diagnostics_add (ld->diagnostics, ld->file, line, column, warning, "%s", message);
}

static void loader_report (Loader     *ld,
                           guint       line,
                           guint       column,
                           gboolean    warning,
                           const char *format,
                           ...) G_GNUC_PRINTF (5, 6);

static void
loader_report (Loader     *ld,
               guint       line,
               guint       column,
               gboolean    warning,
               const char *format,
               ...)
{
  va_list args;

  va_start (args, format);
  loader_vreport (ld, FALSE, line, column, warning, format, args);
  va_end (args);
}

static void loader_report_always (Loader     *ld,
                                  guint       line,
                                  guint       column,
                                  const char *format,
                                  ...) G_GNUC_PRINTF (4, 5);

static void
loader_report_always (Loader     *ld,
                      guint       line,
                      guint       column,
                      const char *format,
                      ...)
{
  va_list args;

  va_start (args, format);
  loader_vreport (ld, TRUE, line, column, FALSE, format, args);
  va_end (args);
}

/* File text quoted in a message: one line, not too long. Only ever called
 * on text as written in the file, never on an expanded value. */
static char *
display (const char *text)
{
  GString *s = g_string_new (NULL);
  const guint max_chars = 60;
  guint n = 0;

  for (const char *p = text; *p != '\0' && n < max_chars; p = g_utf8_next_char (p), n++)
    {
      gunichar ch = g_utf8_get_char (p);

      if (ch < 0x20 || ch == 0x7f)
        g_string_append_c (s, ' ');
      else
        g_string_append_unichar (s, ch);
    }
  if (text[0] != '\0' && n == max_chars && *g_utf8_offset_to_pointer (text, max_chars) != '\0')
    g_string_append (s, "…");

  return g_string_free (s, FALSE);
}

static void
mark_position (const yaml_mark_t *mark,
               guint32           *line,
               guint32           *column)
{
  *line = (guint32) MIN (mark->line + 1, (size_t) G_MAXUINT32);
  *column = (guint32) MIN (mark->column + 1, (size_t) 0x7fffffff);
}

static void
record_node (Loader   *ld,
             JsonNode *node,
             guint32   line,
             guint32   column,
             gboolean  from_env)
{
  NodeInfo info = { line, column, 0, 0, from_env ? 1 : 0 };

  position_table_insert (&ld->doc->positions, node, &info);
}

static NodeInfo
node_info (Loader   *ld,
           JsonNode *node)
{
  const NodeInfo *info = document_lookup (ld->doc, node);
  NodeInfo none = { 0, };

  return info != NULL ? *info : none;
}

static void
set_key_position (Loader   *ld,
                  JsonNode *node,
                  guint32   line,
                  guint32   column)
{
  NodeInfo *info = position_table_lookup (&ld->doc->positions, node);

  g_assert (info != NULL);
  info->key_line = line;
  info->key_column = MIN (column, 0x7fffffff);
}

static JsonNode *
new_collection (gboolean mapping)
{
  JsonNode *node = json_node_alloc ();

  if (mapping)
    {
      JsonObject *object = json_object_new ();

      json_node_init_object (node, object);
      json_object_unref (object);
    }
  else
    {
      JsonArray *array = json_array_new ();

      json_node_init_array (node, array);
      json_array_unref (array);
    }

  return node;
}

/* Nodes in @node's tree (stops counting past @limit) and its height (a
 * scalar is 0). Bounded recursion: trees never exceed the depth cap. */
static void
measure (JsonNode *node,
         guint64   limit,
         guint64  *size,
         guint    *height)
{
  guint child_height = 0;

  (*size)++;
  *height = 0;

  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObjectIter iter;
      JsonNode *member;

      json_object_iter_init (&iter, json_node_get_object (node));
      while (*size <= limit && json_object_iter_next (&iter, NULL, &member))
        {
          guint h = 0;

          measure (member, limit, size, &h);
          child_height = MAX (child_height, h);
        }
      *height = child_height + 1;
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);
      guint n = json_array_get_length (array);

      for (guint i = 0; i < n && *size <= limit; i++)
        {
          guint h = 0;

          measure (json_array_get_element (array, i), limit, size, &h);
          child_height = MAX (child_height, h);
        }
      *height = child_height + 1;
    }
}

/* Deep copy that records positions: the copy's root at (@line, @column)
 * when given, everything below at the positions of the originals. */
static JsonNode *
copy_node (Loader   *ld,
           JsonNode *src,
           guint32   line,
           guint32   column)
{
  NodeInfo info = node_info (ld, src);
  JsonNode *dst;

  if (JSON_NODE_HOLDS_OBJECT (src))
    {
      JsonObjectIter iter;
      const char *name;
      JsonNode *member;
      JsonObject *object;

      dst = new_collection (TRUE);
      object = json_node_get_object (dst);
      json_object_iter_init_ordered (&iter, json_node_get_object (src));
      while (json_object_iter_next_ordered (&iter, &name, &member))
        {
          JsonNode *child = copy_node (ld, member, 0, 0);
          NodeInfo member_info = node_info (ld, member);

          json_object_set_member (object, name, child);
          set_key_position (ld, child, member_info.key_line, member_info.key_column);
        }
    }
  else if (JSON_NODE_HOLDS_ARRAY (src))
    {
      JsonArray *from = json_node_get_array (src);
      JsonArray *to;
      guint n = json_array_get_length (from);

      dst = new_collection (FALSE);
      to = json_node_get_array (dst);
      for (guint i = 0; i < n; i++)
        json_array_add_element (to, copy_node (ld, json_array_get_element (from, i), 0, 0));
    }
  else
    {
      dst = json_node_copy (src);
    }

  record_node (ld, dst,
               line > 0 ? line : info.line,
               line > 0 ? column : info.column,
               info.from_env);

  return dst;
}

/* Forget the positions of a tree that is being freed, so a later node at
 * the same address does not inherit them. */
static void
forget_tree (Loader   *ld,
             JsonNode *node)
{
  position_table_remove (&ld->doc->positions, node);

  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObjectIter iter;
      JsonNode *member;

      json_object_iter_init (&iter, json_node_get_object (node));
      while (json_object_iter_next (&iter, NULL, &member))
        forget_tree (ld, member);
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);
      guint n = json_array_get_length (array);

      for (guint i = 0; i < n; i++)
        forget_tree (ld, json_array_get_element (array, i));
    }
}

/* Keep a node that is not part of the tree alive until loading ends: an
 * anchor may still point into it. */
static void
discard (Loader   *ld,
         JsonNode *node)
{
  g_ptr_array_add (ld->graveyard, node);
}

static void
anchor_free (gpointer data)
{
  Anchor *anchor = data;

  json_node_unref (anchor->node);
  g_free (anchor->key_text);
  g_free (anchor);
}

static void
register_anchor (Loader     *ld,
                 const char *name,
                 JsonNode   *node,
                 const char *key_text)
{
  Anchor *anchor = g_new0 (Anchor, 1);

  anchor->node = json_node_ref (node);
  anchor->key_text = g_strdup (key_text);
  /* A later anchor of the same name replaces the earlier one (YAML 1.2). */
  g_hash_table_replace (ld->anchors, g_strdup (name), anchor);
}

static Frame *
top_frame (Loader *ld)
{
  if (ld->stack->len == 0)
    return NULL;

  return &g_array_index (ld->stack, Frame, ld->stack->len - 1);
}

static gboolean
expecting_key (Loader *ld)
{
  Frame *frame = top_frame (ld);

  return frame != NULL && JSON_NODE_HOLDS_OBJECT (frame->node) && frame->expect_key;
}

static void
frame_clear (Frame *frame)
{
  g_clear_pointer (&frame->node, json_node_unref);
  g_clear_pointer (&frame->anchor, g_free);
  g_clear_pointer (&frame->key, g_free);
  g_clear_pointer (&frame->merges, g_ptr_array_unref);
}

/* Hands a finished node (transfer full) to its parent, or makes it the
 * root. */
static void
add_value (Loader     *ld,
           JsonNode   *node,
           const char *anchor,
           const char *key_text)
{
  Frame *frame;

  if (anchor != NULL)
    register_anchor (ld, anchor, node, key_text);

  frame = top_frame (ld);
  if (frame == NULL)
    {
      if (ld->doc->root != NULL)
        discard (ld, node);
      else
        ld->doc->root = node;
      return;
    }

  if (JSON_NODE_HOLDS_ARRAY (frame->node))
    {
      json_array_add_element (json_node_get_array (frame->node), node);
      return;
    }

  if (frame->discard_value)
    {
      discard (ld, node);
    }
  else if (frame->key_is_merge)
    {
      gboolean ok = JSON_NODE_HOLDS_OBJECT (node) || JSON_NODE_HOLDS_NULL (node);

      if (JSON_NODE_HOLDS_ARRAY (node))
        {
          JsonArray *array = json_node_get_array (node);

          ok = TRUE;
          for (guint i = 0; i < json_array_get_length (array); i++)
            if (!JSON_NODE_HOLDS_OBJECT (json_array_get_element (array, i)))
              ok = FALSE;
        }

      if (!ok)
        {
          NodeInfo info = node_info (ld, node);

          loader_report (ld, info.line, info.column, FALSE,
                         "the value of a merge key '<<' must be a mapping or a list of mappings");
          discard (ld, node);
        }
      else
        {
          if (frame->merges == NULL)
            frame->merges = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
          g_ptr_array_add (frame->merges, node);
        }
    }
  else
    {
      json_object_set_member (json_node_get_object (frame->node), frame->key, node);
      set_key_position (ld, node, frame->key_line, frame->key_column);
    }

  g_clear_pointer (&frame->key, g_free);
  frame->key_is_merge = FALSE;
  frame->discard_value = FALSE;
  frame->expect_key = TRUE;
}

/* Checks that copying @node at the current depth stays within the depth
 * and alias caps, and charges the copy to the alias budget. */
static gboolean
may_copy (Loader     *ld,
          JsonNode   *node,
          guint       depth,
          guint32     line,
          guint32     column,
          const char *what)
{
  guint64 remaining = SLUICE_DOCUMENT_MAX_ALIAS_NODES - ld->alias_nodes;
  guint64 size = 0;
  guint height = 0;

  if (ld->alias_budget_spent)
    return FALSE;

  measure (node, remaining, &size, &height);

  if (size > remaining)
    {
      loader_report (ld, line, column, FALSE,
                     "%s expands the document past %u nodes (an alias bomb?); "
                     "it and any later aliases are left empty",
                     what, (guint) SLUICE_DOCUMENT_MAX_ALIAS_NODES);
      ld->alias_budget_spent = TRUE;
      return FALSE;
    }
  if (depth + height > SLUICE_DOCUMENT_MAX_DEPTH)
    {
      loader_report (ld, line, column, FALSE,
                     "%s nests deeper than %d levels",
                     what, SLUICE_DOCUMENT_MAX_DEPTH);
      return FALSE;
    }

  ld->alias_nodes += size;
  return TRUE;
}

static void
apply_merges (Loader *ld,
              Frame  *frame)
{
  JsonObject *target = json_node_get_object (frame->node);
  guint depth = ld->stack->len;   /* the frame is still on the stack */

  for (guint m = 0; m < frame->merges->len; m++)
    {
      JsonNode *value = g_ptr_array_index (frame->merges, m);
      g_autoptr(GPtrArray) sources = g_ptr_array_new ();

      /* In "<<: [*a, *b]" keys of a win over keys of b; keys written in
       * the mapping itself win over both, whatever their order. */
      if (JSON_NODE_HOLDS_OBJECT (value))
        g_ptr_array_add (sources, value);
      else if (JSON_NODE_HOLDS_ARRAY (value))
        {
          JsonArray *array = json_node_get_array (value);

          for (guint i = 0; i < json_array_get_length (array); i++)
            g_ptr_array_add (sources, json_array_get_element (array, i));
        }

      for (guint s = 0; s < sources->len; s++)
        {
          JsonObjectIter iter;
          const char *name;
          JsonNode *member;

          json_object_iter_init_ordered (&iter, json_node_get_object (g_ptr_array_index (sources, s)));
          while (json_object_iter_next_ordered (&iter, &name, &member))
            {
              NodeInfo info;
              JsonNode *copy;

              if (json_object_has_member (target, name))
                continue;

              info = node_info (ld, member);
              if (!may_copy (ld, member, depth, info.line, info.column, "merge key '<<'"))
                continue;

              copy = copy_node (ld, member, 0, 0);
              json_object_set_member (target, name, copy);
              set_key_position (ld, copy, info.key_line, info.key_column);
            }
        }

      discard (ld, json_node_ref (value));
    }

  g_clear_pointer (&frame->merges, g_ptr_array_unref);
}

/* Expands ${VAR}, ${VAR:-default} and $$ in @text. Returns NULL when @text
 * holds no reference at all (a lone '$' is not one). Sets @from_env when a
 * variable's value was used, @only_refs when no character of the result
 * was written literally, @failed after a diagnostic. Diagnostics quote the
 * file's text, never a value. */
static char *
expand_env (Loader     *ld,
            const char *text,
            guint32     line,
            guint32     column,
            gboolean   *from_env,
            gboolean   *only_refs,
            gboolean   *failed)
{
  GString *out;
  gboolean any_ref = FALSE;
  const char *p = text;

  *from_env = FALSE;
  *only_refs = FALSE;
  *failed = FALSE;

  if (strchr (text, '$') == NULL)
    return NULL;

  out = g_string_new (NULL);

  while (*p != '\0')
    {
      const char *close;
      const char *name_end;
      const char *separator;
      g_autofree char *name = NULL;
      const char *value;
      gboolean valid_name;

      if (p[0] != '$' || (p[1] != '$' && p[1] != '{'))
        {
          g_string_append_c (out, *p++);
          continue;
        }

      any_ref = TRUE;

      if (p[1] == '$')
        {
          g_string_append_c (out, '$');
          p += 2;
          continue;
        }

      close = strchr (p + 2, '}');
      if (close == NULL)
        {
          g_autofree char *shown = display (p);

          loader_report (ld, line, column, FALSE,
                         "unterminated environment variable reference '%s': '${' without '}' "
                         "(write '$$' for a literal '$')", shown);
          g_string_append (out, p);
          *failed = TRUE;
          break;
        }

      separator = g_strstr_len (p + 2, close - (p + 2), ":-");
      name_end = separator != NULL ? separator : close;
      name = g_strndup (p + 2, name_end - (p + 2));

      valid_name = name[0] != '\0' && !g_ascii_isdigit (name[0]);
      for (const char *n = name; *n != '\0'; n++)
        if (!g_ascii_isalnum (*n) && *n != '_')
          valid_name = FALSE;

      if (!valid_name)
        {
          g_autofree char *reference = g_strndup (p, close + 1 - p);
          g_autofree char *shown = display (reference);

          loader_report (ld, line, column, FALSE,
                         "malformed environment variable reference '%s': use ${NAME} or "
                         "${NAME:-default}, NAME made of letters, digits and '_'", shown);
          g_string_append_len (out, p, close + 1 - p);
          *failed = TRUE;
          p = close + 1;
          continue;
        }

      value = g_getenv (name);
      if (value != NULL && !g_utf8_validate (value, -1, NULL))
        {
          loader_report (ld, line, column, FALSE,
                         "environment variable %s is not valid UTF-8", name);
          *failed = TRUE;
        }
      else if (separator != NULL && (value == NULL || value[0] == '\0'))
        {
          g_string_append_len (out, separator + 2, close - (separator + 2));
        }
      else if (value == NULL)
        {
          loader_report (ld, line, column, FALSE,
                         "environment variable %s is not set", name);
          *failed = TRUE;
        }
      else
        {
          g_string_append (out, value);
          *from_env = TRUE;
        }

      p = close + 1;
    }

  if (!any_ref)
    {
      g_string_free (out, TRUE);
      return NULL;
    }

  /* Only references, no literal text: the result is typed like a plain
   * scalar. A default counts as a reference, so "${N:-4}" is 4 whether or
   * not N is set. */
  *only_refs = TRUE;
  for (const char *q = text; *q != '\0'; )
    {
      const char *c;

      if (q[0] != '$' || q[1] != '{' || (c = strchr (q + 2, '}')) == NULL)
        {
          *only_refs = FALSE;
          break;
        }
      q = c + 1;
    }

  return g_string_free (out, FALSE);
}

typedef enum {
  TAG_NONE,
  TAG_STR,
  TAG_INT,
  TAG_FLOAT,
  TAG_BOOL,
  TAG_NULL,
  TAG_OTHER,
} ScalarTag;

static ScalarTag
scalar_tag (const char *tag)
{
  if (tag == NULL)
    return TAG_NONE;
  if (strcmp (tag, "!") == 0)
    return TAG_STR;   /* the non-specific tag: "! 12" is a string */
  if (!g_str_has_prefix (tag, YAML_TAG_PREFIX))
    return TAG_OTHER;

  tag += strlen (YAML_TAG_PREFIX);
  if (strcmp (tag, "str") == 0)
    return TAG_STR;
  if (strcmp (tag, "int") == 0)
    return TAG_INT;
  if (strcmp (tag, "float") == 0)
    return TAG_FLOAT;
  if (strcmp (tag, "bool") == 0)
    return TAG_BOOL;
  if (strcmp (tag, "null") == 0)
    return TAG_NULL;

  return TAG_OTHER;
}

static char *
short_tag (const char *tag)
{
  if (g_str_has_prefix (tag, YAML_TAG_PREFIX))
    return g_strconcat ("!!", tag + strlen (YAML_TAG_PREFIX), NULL);

  return display (tag);
}

static JsonNode *
value_node (const ScalarValue *v,
            const char        *text)
{
  JsonNode *node = json_node_alloc ();

  switch (v->kind)
    {
    case KIND_NULL:
      json_node_init_null (node);
      break;
    case KIND_BOOL:
      json_node_init_boolean (node, v->b);
      break;
    case KIND_INT:
      json_node_init_int (node, v->i);
      break;
    case KIND_DOUBLE:
      json_node_init_double (node, v->d);
      break;
    case KIND_STRING:
    default:
      json_node_init_string (node, text);
      break;
    }

  return node;
}

static void
handle_scalar_value (Loader       *ld,
                     yaml_event_t *event)
{
  const char *raw = (const char *) event->data.scalar.value;
  gboolean plain = event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
  const char *tag = (const char *) event->data.scalar.tag;
  ScalarTag kind_tag = scalar_tag (tag);
  g_autofree char *expanded = NULL;
  gboolean from_env, only_refs, failed;
  const char *text;
  ScalarValue v = { .kind = KIND_STRING };
  JsonNode *node;
  guint32 line, column;

  mark_position (&event->start_mark, &line, &column);

  if (strlen (raw) != event->data.scalar.length)
    loader_report (ld, line, column, FALSE,
                   "strings cannot contain a NUL character; the text after it is dropped");

  expanded = expand_env (ld, raw, line, column, &from_env, &only_refs, &failed);
  text = expanded != NULL ? expanded : raw;

  switch (kind_tag)
    {
    case TAG_STR:
      break;

    case TAG_INT:
    case TAG_FLOAT:
    case TAG_BOOL:
    case TAG_NULL:
      if (failed)
        break;
      resolve_plain (text, &v);
      if (kind_tag == TAG_FLOAT && v.kind == KIND_INT)
        {
          v.kind = KIND_DOUBLE;
          v.d = (double) v.i;
        }
      if ((kind_tag == TAG_INT && v.kind != KIND_INT) ||
          (kind_tag == TAG_FLOAT && v.kind != KIND_DOUBLE) ||
          (kind_tag == TAG_BOOL && v.kind != KIND_BOOL) ||
          (kind_tag == TAG_NULL && v.kind != KIND_NULL))
        {
          g_autofree char *shown = short_tag (tag);

          /* The value itself is not quoted: it may come from the environment. */
          loader_report (ld, line, column, FALSE, "the value is not a valid %s", shown);
          v.kind = KIND_STRING;
        }
      break;

    case TAG_OTHER:
      {
        g_autofree char *shown = short_tag (tag);

        loader_report (ld, line, column, TRUE, "unknown tag '%s' ignored", shown);
      }
      G_GNUC_FALLTHROUGH;

    case TAG_NONE:
    default:
      if (!plain)
        break;
      if (expanded == NULL)
        resolve_plain (raw, &v);
      else if (only_refs && !failed && *expanded != '\0')
        /* An empty variable stays an empty string, not null: "api_key:
         * ${OPENAI_API_KEY}" with the variable set to "" must say so. */
        resolve_plain (expanded, &v);
      break;
    }

  node = value_node (&v, text);
  record_node (ld, node, line, column, from_env);
  add_value (ld, node, (const char *) event->data.scalar.anchor,
             expanded == NULL ? raw : NULL);
}

static void
handle_key (Loader     *ld,
            Frame      *frame,
            const char *text,
            gboolean    plain,
            guint32     line,
            guint32     column)
{
  JsonObject *object = json_node_get_object (frame->node);
  JsonNode *existing;

  frame->expect_key = FALSE;
  frame->key_line = line;
  frame->key_column = column;

  if (plain && strcmp (text, "<<") == 0)
    {
      frame->key_is_merge = TRUE;
      return;
    }

  existing = json_object_get_member (object, text);
  if (existing != NULL)
    {
      NodeInfo first = node_info (ld, existing);
      g_autofree char *shown = display (text);

      loader_report (ld, line, column, FALSE,
                     "duplicate key '%s' (first at line %u)", shown, first.key_line);
      frame->discard_value = TRUE;
      return;
    }

  frame->key = g_strdup (text);
}

static void
handle_scalar_key (Loader       *ld,
                   yaml_event_t *event)
{
  const char *text = (const char *) event->data.scalar.value;
  const char *anchor = (const char *) event->data.scalar.anchor;
  guint32 line, column;

  mark_position (&event->start_mark, &line, &column);

  if (strlen (text) != event->data.scalar.length)
    loader_report (ld, line, column, FALSE,
                   "keys cannot contain a NUL character; the text after it is dropped");

  if (anchor != NULL)
    {
      /* An anchored key can be aliased later, as a value or a key. */
      JsonNode *node = json_node_alloc ();

      json_node_init_string (node, text);
      record_node (ld, node, line, column, FALSE);
      register_anchor (ld, anchor, node, text);
      discard (ld, node);
    }

  handle_key (ld, top_frame (ld), text,
              event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE, line, column);
}

static void
handle_alias (Loader       *ld,
              yaml_event_t *event)
{
  const char *name = (const char *) event->data.alias.anchor;
  Anchor *anchor = g_hash_table_lookup (ld->anchors, name);
  g_autofree char *shown = display (name);
  g_autofree char *what = g_strdup_printf ("alias '*%s'", shown);
  guint32 line, column;
  JsonNode *node;

  mark_position (&event->start_mark, &line, &column);

  if (expecting_key (ld))
    {
      Frame *frame = top_frame (ld);

      if (anchor == NULL)
        {
          loader_report (ld, line, column, FALSE, "undefined alias '*%s'", shown);
          frame->expect_key = FALSE;
          frame->discard_value = TRUE;
        }
      else if (anchor->key_text == NULL)
        {
          loader_report (ld, line, column, FALSE,
                         "mapping keys must be scalars; alias '*%s' names a collection "
                         "or a value with environment variables", shown);
          frame->expect_key = FALSE;
          frame->discard_value = TRUE;
        }
      else
        {
          handle_key (ld, frame, anchor->key_text, FALSE, line, column);
        }
      return;
    }

  if (anchor == NULL)
    loader_report (ld, line, column, FALSE, "undefined alias '*%s'", shown);

  if (anchor != NULL && may_copy (ld, anchor->node, ld->stack->len, line, column, what))
    {
      node = copy_node (ld, anchor->node, line, column);
    }
  else
    {
      node = json_node_new (JSON_NODE_NULL);
      record_node (ld, node, line, column, FALSE);
    }

  add_value (ld, node, NULL, anchor != NULL ? anchor->key_text : NULL);
}

static void
warn_collection_tag (Loader     *ld,
                     const char *tag,
                     const char *expected,
                     guint32     line,
                     guint32     column)
{
  g_autofree char *shown = NULL;

  if (tag == NULL || strcmp (tag, "!") == 0 ||
      (g_str_has_prefix (tag, YAML_TAG_PREFIX) &&
       strcmp (tag + strlen (YAML_TAG_PREFIX), expected) == 0))
    return;

  shown = short_tag (tag);
  loader_report (ld, line, column, TRUE, "unknown tag '%s' ignored", shown);
}

/* Returns FALSE when nesting is too deep to go on. */
static gboolean
handle_collection_start (Loader       *ld,
                         yaml_event_t *event,
                         gboolean      mapping)
{
  const char *anchor;
  const char *tag;
  guint32 line, column;
  Frame frame = { 0, };

  mark_position (&event->start_mark, &line, &column);

  /* Fatal, not skipped: libyaml's scanner spends time quadratic in the
   * depth of flow nesting ("[[[[..." 100000 deep takes it 40 s), so the
   * only defence is to stop reading. */
  if (ld->stack->len + ld->skip_depth >= SLUICE_DOCUMENT_MAX_DEPTH)
    {
      loader_report_always (ld, line, column,
                            "nesting is deeper than %d levels; stopped reading here",
                            SLUICE_DOCUMENT_MAX_DEPTH);
      ld->fatal = TRUE;
      return FALSE;
    }

  if (ld->skip_depth > 0)
    {
      ld->skip_depth++;
      return TRUE;
    }

  if (mapping)
    {
      anchor = (const char *) event->data.mapping_start.anchor;
      tag = (const char *) event->data.mapping_start.tag;
    }
  else
    {
      anchor = (const char *) event->data.sequence_start.anchor;
      tag = (const char *) event->data.sequence_start.tag;
    }

  if (expecting_key (ld))
    {
      Frame *parent = top_frame (ld);

      loader_report (ld, line, column, FALSE,
                     "mapping keys must be scalars, not %s", mapping ? "mappings" : "lists");
      parent->expect_key = FALSE;
      parent->discard_value = TRUE;
      ld->skip_depth = 1;
      return TRUE;
    }

  warn_collection_tag (ld, tag, mapping ? "map" : "seq", line, column);

  frame.node = new_collection (mapping);
  frame.anchor = g_strdup (anchor);
  frame.expect_key = mapping;
  record_node (ld, frame.node, line, column, FALSE);
  g_array_append_val (ld->stack, frame);

  return TRUE;
}

static void
handle_collection_end (Loader *ld)
{
  Frame *top;
  Frame frame;

  if (ld->skip_depth > 0)
    {
      ld->skip_depth--;
      return;
    }

  g_return_if_fail (ld->stack->len > 0);

  top = &g_array_index (ld->stack, Frame, ld->stack->len - 1);
  if (top->merges != NULL)
    apply_merges (ld, top);

  frame = *top;
  g_array_set_size (ld->stack, ld->stack->len - 1);

  add_value (ld, g_steal_pointer (&frame.node), frame.anchor, NULL);
  frame_clear (&frame);
}

/* Returns FALSE to stop reading events. */
static gboolean
handle_event (Loader       *ld,
              yaml_event_t *event)
{
  switch (event->type)
    {
    case YAML_STREAM_END_EVENT:
      return FALSE;

    case YAML_DOCUMENT_START_EVENT:
      if (ld->documents++ > 0)
        {
          guint32 line, column;

          mark_position (&event->start_mark, &line, &column);
          loader_report (ld, line, column, FALSE,
                         "a file holds one document; a second one starts here");
          return FALSE;
        }
      break;

    case YAML_SCALAR_EVENT:
      if (ld->skip_depth > 0)
        break;
      if (expecting_key (ld))
        handle_scalar_key (ld, event);
      else
        handle_scalar_value (ld, event);
      break;

    case YAML_ALIAS_EVENT:
      if (ld->skip_depth == 0)
        handle_alias (ld, event);
      break;

    case YAML_SEQUENCE_START_EVENT:
      return handle_collection_start (ld, event, FALSE);

    case YAML_MAPPING_START_EVENT:
      return handle_collection_start (ld, event, TRUE);

    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      handle_collection_end (ld);
      break;

    case YAML_NO_EVENT:
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_END_EVENT:
    default:
      break;
    }

  return TRUE;
}

/* Line and column of a byte offset, for reader errors (which libyaml
 * reports by offset only). Columns count characters, as libyaml's do. */
static void
offset_position (Loader  *ld,
                 gsize    offset,
                 guint32 *line,
                 guint32 *column)
{
  const char *line_start = ld->data;
  guint32 l = 1, c = 1;

  offset = MIN (offset, ld->length);
  for (gsize i = 0; i < offset; i++)
    if (ld->data[i] == '\n')
      {
        l++;
        line_start = ld->data + i + 1;
      }

  for (const char *p = line_start; p < ld->data + offset; p++)
    if (((guchar) *p & 0xc0) != 0x80)
      c++;

  *line = l;
  *column = c;
}

static void
report_parser_error (Loader        *ld,
                     yaml_parser_t *parser)
{
  const char *problem = parser->problem != NULL ? parser->problem : "syntax error";
  guint32 line, column;

  switch (parser->error)
    {
    case YAML_MEMORY_ERROR:
      loader_report_always (ld, 0, 0, "out of memory while parsing");
      break;

    case YAML_READER_ERROR:
      offset_position (ld, parser->problem_offset, &line, &column);
      if (parser->problem_value != -1)
        loader_report_always (ld, line, column,
                       "%s (byte 0x%02X); files must be UTF-8 text",
                       problem, (guint) (parser->problem_value & 0xff));
      else
        loader_report_always (ld, line, column, "%s; files must be UTF-8 text", problem);
      break;

    case YAML_SCANNER_ERROR:
    case YAML_PARSER_ERROR:
    default:
      mark_position (&parser->problem_mark, &line, &column);
      if (parser->context != NULL)
        {
          guint32 context_line, context_column;

          mark_position (&parser->context_mark, &context_line, &context_column);
          loader_report_always (ld, line, column, "%s (%s that starts at line %u, column %u)",
                         problem, parser->context, context_line, context_column);
        }
      else
        {
          loader_report_always (ld, line, column, "%s", problem);
        }
      break;
    }
}

/**
 * sluice_document_load_data:
 * @data: (array length=length) (element-type guint8): YAML or JSON text
 * @length: length of @data in bytes, or -1 if it is nul-terminated
 * @filename: (nullable): the name to put in diagnostics and keep
 * @diagnostics: (element-type SluiceDiagnostic) (nullable): where every
 *   problem found is appended
 *
 * Parses @data into a tree. Every problem the parser can get past is
 * reported, not only the first; the caller decides what to do with a
 * document that has errors (see sluice_diagnostics_count_errors()).
 *
 * Returns: (transfer full) (nullable): the document, or %NULL when no tree
 *   could be built (a syntax error, nesting deeper than
 *   %SLUICE_DOCUMENT_MAX_DEPTH, an empty file)
 */
SluiceDocument *
sluice_document_load_data (const char *data,
                           gssize      length,
                           const char *filename,
                           GPtrArray  *diagnostics)
{
  g_autoptr(SluiceDocument) doc = NULL;
  yaml_parser_t parser;
  gboolean ok = TRUE;
  Loader ld = { 0, };

  g_return_val_if_fail (data != NULL || length == 0, NULL);

  if (data == NULL)
    data = "";
  if (length < 0)
    length = strlen (data);

  doc = document_new (filename);

  /* With the encoding set, libyaml would take a byte-order mark for a
   * character and indent line 1 by one column: drop it here. */
  if (length >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0)
    {
      data += 3;
      length -= 3;
    }

  ld.doc = doc;
  ld.file = filename;
  ld.data = data;
  ld.length = length;
  ld.diagnostics = diagnostics;
  ld.stack = g_array_sized_new (FALSE, TRUE, sizeof (Frame), 32);
  ld.anchors = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, anchor_free);
  ld.graveyard = g_ptr_array_new ();

  if (!yaml_parser_initialize (&parser))
    g_error ("libyaml could not allocate a parser");
  yaml_parser_set_input_string (&parser, (const unsigned char *) data, length);
  /* Pipeline files are UTF-8 (as JSON requires); anything else is an
   * error at its first bad byte rather than a guess. */
  yaml_parser_set_encoding (&parser, YAML_UTF8_ENCODING);

  for (;;)
    {
      yaml_event_t event;
      gboolean more;

      if (!yaml_parser_parse (&parser, &event))
        {
          report_parser_error (&ld, &parser);
          ok = FALSE;
          break;
        }

      more = handle_event (&ld, &event);
      yaml_event_delete (&event);
      if (!more)
        break;
    }

  if (ld.fatal)
    ok = FALSE;

  yaml_parser_delete (&parser);

  for (guint i = 0; i < ld.stack->len; i++)
    frame_clear (&g_array_index (ld.stack, Frame, i));
  g_array_free (ld.stack, TRUE);
  g_hash_table_destroy (ld.anchors);
  for (guint i = 0; i < ld.graveyard->len; i++)
    {
      JsonNode *node = g_ptr_array_index (ld.graveyard, i);

      if (ok)
        forget_tree (&ld, node);
      json_node_unref (node);
    }
  g_ptr_array_free (ld.graveyard, TRUE);

  if (!ok)
    return NULL;

  if (ld.documents == 0 || doc->root == NULL)
    {
      loader_report_always (&ld, 0, 0, "file is empty");
      return NULL;
    }

  return g_steal_pointer (&doc);
}

static char *
read_all (const char *path,
          gsize      *length,
          int        *saved_errno)
{
  g_autoptr(GByteArray) bytes = NULL;
  struct stat st;
  int fd;

  /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
  fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0);
  if (fd < 0)
    {
      *saved_errno = errno;
      return NULL;
    }
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      *saved_errno = fstat (fd, &st) != 0 ? errno : (S_ISDIR (st.st_mode) ? EISDIR : EINVAL);
      close (fd);
      return NULL;
    }
  if (st.st_size > SLUICE_DOCUMENT_MAX_BYTES)
    {
      *saved_errno = EFBIG;
      close (fd);
      return NULL;
    }

  bytes = g_byte_array_sized_new (st.st_size > 0 ? st.st_size + 1 : 4096);

  for (;;)
    {
      guint8 chunk[65536];
      ssize_t n = read (fd, chunk, sizeof chunk);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          *saved_errno = errno;
          close (fd);
          return NULL;
        }
      if (n == 0)
        break;
      g_byte_array_append (bytes, chunk, n);
      if (bytes->len > SLUICE_DOCUMENT_MAX_BYTES)
        {
          *saved_errno = EFBIG;
          close (fd);
          return NULL;
        }
    }

  close (fd);
  *length = bytes->len;
  g_byte_array_append (bytes, (const guint8 *) "", 1);

  return (char *) g_byte_array_free (g_steal_pointer (&bytes), FALSE);
}

/**
 * sluice_document_load_file:
 * @path: a file name
 * @diagnostics: (element-type SluiceDiagnostic) (nullable): where every
 *   problem found is appended
 *
 * Reads and parses @path; see sluice_document_load_data(). A file that
 * cannot be read gives one diagnostic, `cannot read: <reason>`.
 *
 * Returns: (transfer full) (nullable): the document, or %NULL
 */
SluiceDocument *
sluice_document_load_file (const char *path,
                           GPtrArray  *diagnostics)
{
  g_autofree char *data = NULL;
  gsize length = 0;
  int saved_errno = 0;

  g_return_val_if_fail (path != NULL, NULL);

  data = read_all (path, &length, &saved_errno);
  if (data == NULL)
    {
      if (saved_errno == EINVAL)
        sluice_diagnostics_add (diagnostics, path, 0, 0, FALSE,
                                "cannot read: not a regular file");
      else if (saved_errno == EFBIG)
        sluice_diagnostics_add (diagnostics, path, 0, 0, FALSE,
                                "cannot read: larger than %d MB", SLUICE_DOCUMENT_MAX_BYTES >> 20);
      else
        sluice_diagnostics_add (diagnostics, path, 0, 0, FALSE,
                                "cannot read: %s", g_strerror (saved_errno));
      return NULL;
    }

  return sluice_document_load_data (data, length, path, diagnostics);
}
