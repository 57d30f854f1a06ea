/* sluice-mustache.c: Mustache templates, compiled once, rendered many times
 *
 * The whole Mustache spec (interpolation, sections, inverted sections,
 * comments, partials, set delimiters, the standalone-line rules) plus the
 * optional inheritance and dynamic names; lambdas need code and are not
 * supported. A template is parsed into a flat array of nodes (a section
 * knows the index after its last child), so rendering walks arrays and
 * never re-reads the source. Parsing and rendering are linear in the
 * text; rendering stops at a size limit, so a template that repeats a
 * partial many times over cannot exhaust memory.
 *
 * What is not a string renders as JSON: integers and decimals in their
 * shortest form (1.5, 1e+21), true, false, objects and arrays as compact
 * JSON; null and names not found render as nothing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-mustache"

#include "sluice-private.h"
#include "sluice-mustache-private.h"
#include "sluice-schema-private.h"

#include <string.h>

#include <sys/stat.h>

#include <glib/gstdio.h>

typedef enum {
  TOK_TEXT,
  TOK_VAR,          /* {{name}} */
  TOK_RAW,          /* {{{name}}}, {{&name}} */
  TOK_SECTION,      /* {{#name}} */
  TOK_INVERTED,     /* {{^name}} */
  TOK_CLOSE,        /* {{/name}} */
  TOK_COMMENT,      /* {{! ...}} */
  TOK_PARTIAL,      /* {{>name}} */
  TOK_DELIMITERS,   /* {{=<% %>=}} */
  TOK_BLOCK,        /* {{$name}} */
  TOK_PARENT,       /* {{<name}} */
} TokenKind;

/* Offsets are 32-bit: a template is at most SLUICE_MUSTACHE_MAX_SOURCE. */
typedef struct {
  guint8    kind;        /* TokenKind */
  guint8    standalone;  /* tags alone on their line */
  guint8    newline;     /* ... which ends with a line break */
  guint32   start;       /* the whole tag or text */
  guint32   end;
  guint32   name_start;  /* tags: the trimmed name */
  guint32   name_len;
  guint32   keep_start;  /* text: what the standalone rules leave of it */
  guint32   keep_end;
  guint32   indent_start;/* standalone tags: the blanks before them */
  guint32   indent_len;
} Token;

typedef enum {
  NODE_TEXT,
  NODE_VAR,
  NODE_SECTION,
  NODE_INVERTED,
  NODE_PARTIAL,
  NODE_BLOCK,
  NODE_PARENT,
} NodeKind;

typedef struct {
  guint8    kind;        /* NodeKind */
  guint8    escape;      /* NODE_VAR */
  guint8    dynamic;     /* NODE_PARTIAL, NODE_PARENT: {{>*name}} */
  guint8    standalone;  /* NODE_BLOCK: alone on its line */
  guint8    newline;     /* NODE_BLOCK: ... which ends with a line break */
  guint32   offset;      /* of the tag (or text) in the source */
  guint32   tag_len;
  guint32   end;         /* containers: the index after the last child */
  guint32   text_len;    /* NODE_TEXT: source + offset, text_len bytes */
  char     *name;        /* as written, trimmed (without '*'); in block */
  char    **parts;       /* dotted name split, in block; NULL for '.' */
  gpointer  block;       /* one allocation for name and parts */
  char     *indent;      /* standalone partials, parents and blocks */
} Node;

struct _SluiceMustache
{
  gatomicrefcount         ref_count;
  SluiceMustacheLibrary  *lib;       /* owned; NULL for the library's own partials */
  char                   *source;
  char                   *file;      /* NULL for a template given to compile() */
  char                   *partial;   /* the partial's name */
  GArray                 *nodes;     /* Node */
};

typedef struct {
  char *text;
  char *file;
} PartialSource;

struct _SluiceMustacheLibrary
{
  gatomicrefcount     ref_count;
  SluiceMustacheFlags flags;
  gsize               max_output;
  guint64             max_steps;
  const char         *data_name;  /* what the templates render, for messages */
  GMutex              lock;
  GHashTable         *sources;    /* name → PartialSource* */
  GHashTable         *compiled;   /* "name\1indent" → SluiceMustache* */
  GHashTable         *failed;     /* "name\1indent" of partials that did not compile */
};

/* ---- problems --------------------------------------------------------- */

void
sluice_mustache_problem_free (SluiceMustacheProblem *problem)
{
  if (problem == NULL)
    return;
  g_free (problem->file);
  g_free (problem->snippet);
  g_free (problem->message);
  g_free (problem);
}

static void
offset_to_position (const char *source,
                    gsize       offset,
                    guint      *line,
                    guint      *column)
{
  const char *line_start = source;

  *line = 1;
  for (const char *p = source; p < source + offset && *p != '\0'; p++)
    if (*p == '\n')
      {
        (*line)++;
        line_start = p + 1;
      }
  *column = 1 + (guint) g_utf8_strlen (line_start, (gssize) (source + offset - line_start));
}

static void G_GNUC_PRINTF (6, 7)
add_problem (GPtrArray      *problems,
             SluiceMustache *t,
             gsize           offset,
             gsize           snippet_len,
             gboolean        is_warning,
             const char     *format,
             ...)
{
  SluiceMustacheProblem *problem;
  const char *snippet = t->source + offset;
  const char *newline;
  va_list args;

  if (problems == NULL)
    return;
  problem = g_new0 (SluiceMustacheProblem, 1);
  va_start (args, format);
  problem->message = g_strdup_vprintf (format, args);
  va_end (args);
  problem->file = g_strdup (t->file);
  problem->offset = offset;
  problem->is_warning = is_warning;
  snippet_len = MIN (MIN (snippet_len, 80), strlen (snippet));
  newline = memchr (snippet, '\n', snippet_len);
  if (newline != NULL)
    snippet_len = (gsize) (newline - snippet);
  /* Whole characters only (snippet[snippet_len] is at most the NUL). */
  while (snippet_len > 0 && (((guchar) snippet[snippet_len]) & 0xc0) == 0x80)
    snippet_len--;
  problem->snippet = g_strndup (snippet, snippet_len);
  offset_to_position (t->source, offset, &problem->line, &problem->column);
  g_ptr_array_add (problems, problem);
}

/* "file:line:col: message" for each error (or "line L, column C" in the
 * template itself), joined; for a GError at configure time. */
char *
sluice_mustache_problems_to_message (GPtrArray  *problems,
                                     const char *what)
{
  GString *message = g_string_new (NULL);

  for (guint i = 0; i < problems->len; i++)
    {
      SluiceMustacheProblem *p = g_ptr_array_index (problems, i);

      if (p->is_warning)
        continue;
      if (message->len > 0)
        g_string_append (message, "; ");
      if (p->file != NULL)
        g_string_append_printf (message, "%s:%u:%u: %s", p->file, p->line, p->column, p->message);
      else
        g_string_append_printf (message, "%s, line %u, column %u: %s", what, p->line, p->column, p->message);
    }
  return g_string_free (message, FALSE);
}

/* ---- templates -------------------------------------------------------- */

static void
node_clear (Node *node)
{
  g_free (node->block);
  g_free (node->indent);
}

/* The name as written, and split at its dots when dotted (not for '.'),
 * in one allocation: a template may hold a million of them. */
static void
node_set_name (Node       *node,
               const char *name,
               gsize       len,
               gboolean    dotted)
{
  guint n_parts = 1;
  gsize pointers;
  char *block, *written;

  dotted = dotted && !(len == 1 && name[0] == '.');
  for (gsize i = 0; dotted && i < len; i++)
    n_parts += name[i] == '.';
  pointers = dotted ? (n_parts + 1) * sizeof (char *) : 0;
  block = g_malloc (pointers + (len + 1) * (dotted ? 2 : 1));
  written = block + pointers;
  memcpy (written, name, len);
  written[len] = '\0';
  node->block = block;
  node->name = written;
  node->parts = NULL;
  if (dotted)
    {
      char **parts = (char **) block;
      char *copy = written + len + 1;
      guint k = 1;

      memcpy (copy, name, len);
      copy[len] = '\0';
      parts[0] = copy;
      for (gsize i = 0; i < len; i++)
        if (copy[i] == '.')
          {
            copy[i] = '\0';
            parts[k++] = copy + i + 1;
          }
      parts[k] = NULL;
      node->parts = parts;
    }
}

static SluiceMustache *
template_new (const char *source,
              const char *file,
              const char *partial)
{
  SluiceMustache *self = g_new0 (SluiceMustache, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->source = g_strdup (source);
  self->file = g_strdup (file);
  self->partial = g_strdup (partial);
  self->nodes = g_array_new (FALSE, TRUE, sizeof (Node));
  g_array_set_clear_func (self->nodes, (GDestroyNotify) node_clear);
  return self;
}

SluiceMustache *
sluice_mustache_ref (SluiceMustache *self)
{
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
sluice_mustache_unref (SluiceMustache *self)
{
  if (self == NULL || !g_atomic_ref_count_dec (&self->ref_count))
    return;
  if (self->lib != NULL)
    sluice_mustache_library_unref (self->lib);
  g_free (self->source);
  g_free (self->file);
  g_free (self->partial);
  g_array_unref (self->nodes);
  g_free (self);
}

/* ---- parsing ---------------------------------------------------------- */

static const char *
find (const char *haystack,
      gsize       haystack_len,
      const char *needle,
      gsize       needle_len)
{
  const char *end = haystack + haystack_len;

  if (needle_len == 0 || needle_len > haystack_len)
    return NULL;
  for (const char *p = haystack; p + needle_len <= end; p++)
    {
      p = memchr (p, needle[0], (gsize) (end - p) - needle_len + 1);
      if (p == NULL)
        return NULL;
      if (memcmp (p, needle, needle_len) == 0)
        return p;
    }
  return NULL;
}

static gboolean
is_blank (char c)
{
  return c == ' ' || c == '\t';
}

static void
add_text_token (GArray *tokens,
                gsize   start,
                gsize   end)
{
  Token token = { .kind = TOK_TEXT, .start = start, .end = end, .keep_start = start, .keep_end = end };

  if (start < end)
    g_array_append_val (tokens, token);
}

static gboolean
valid_name (const char *name,
            gsize       len,
            gboolean    dotted)
{
  if (len == 0)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (g_ascii_isspace (name[i]) || (guchar) name[i] < 0x20)
      return FALSE;
  if (!dotted || (len == 1 && name[0] == '.'))
    return TRUE;
  if (name[0] == '.' || name[len - 1] == '.')
    return FALSE;
  for (gsize i = 1; i < len; i++)
    if (name[i] == '.' && name[i - 1] == '.')
      return FALSE;
  return TRUE;
}

/* Splits the source into text and tags; FALSE (with a problem) on a tag
 * that is not closed or not well formed. */
static gboolean
tokenize (SluiceMustache *t,
          GArray         *tokens,
          GPtrArray      *problems)
{
  const char *s = t->source;
  gsize n = strlen (s);
  char open[32] = "{{", close[32] = "}}";
  guint n_tags = 0;
  gsize p = 0;

  if (n > SLUICE_MUSTACHE_MAX_SOURCE)
    {
      add_problem (problems, t, 0, 0, FALSE, "a template may be at most %u MiB long",
                   (guint) (SLUICE_MUSTACHE_MAX_SOURCE >> 20));
      return FALSE;
    }

  while (p < n)
    {
      gsize open_len = strlen (open);
      const char *hit = find (s + p, n - p, open, open_len);
      char closer[40];
      gsize tag_start, c, name_start, name_end, closer_len;
      const char *stop;
      Token token = { 0 };

      if (hit == NULL)
        {
          add_text_token (tokens, p, n);
          break;
        }
      tag_start = (gsize) (hit - s);
      add_text_token (tokens, p, tag_start);
      if (++n_tags > SLUICE_MUSTACHE_MAX_TAGS)
        {
          add_problem (problems, t, tag_start, 40, FALSE,
                       "a template may hold at most %u tags", SLUICE_MUSTACHE_MAX_TAGS);
          return FALSE;
        }

      c = tag_start + open_len;
      token.kind = TOK_VAR;
      switch (c < n ? s[c] : '\0')
        {
        case '{': token.kind = TOK_RAW; break;
        case '&': token.kind = TOK_RAW; break;
        case '#': token.kind = TOK_SECTION; break;
        case '^': token.kind = TOK_INVERTED; break;
        case '/': token.kind = TOK_CLOSE; break;
        case '!': token.kind = TOK_COMMENT; break;
        case '>': token.kind = TOK_PARTIAL; break;
        case '=': token.kind = TOK_DELIMITERS; break;
        case '$': token.kind = TOK_BLOCK; break;
        case '<': token.kind = TOK_PARENT; break;
        default: break;
        }
      if (token.kind != TOK_VAR)
        c++;

      if (token.kind == TOK_RAW && s[c - 1] == '{')
        g_snprintf (closer, sizeof closer, "}%s", close);
      else if (token.kind == TOK_DELIMITERS)
        g_snprintf (closer, sizeof closer, "=%s", close);
      else
        g_snprintf (closer, sizeof closer, "%s", close);
      closer_len = strlen (closer);

      stop = c <= n ? find (s + c, n - c, closer, closer_len) : NULL;
      if (stop == NULL)
        {
          if (token.kind == TOK_COMMENT)
            add_problem (problems, t, tag_start, 40, FALSE,
                         "comment '%s' is not closed: no '%s' after it", open, closer);
          else
            add_problem (problems, t, tag_start, 40, FALSE,
                         "tag is not closed: no '%s' after '%s'", closer, open);
          return FALSE;
        }
      name_start = c;
      name_end = (gsize) (stop - s);
      token.start = tag_start;
      token.end = name_end + closer_len;

      /* A tag ends at the first closer: "{{a\nb}}" is a name with a line
       * break, reported below, not text. */
      while (name_start < name_end && g_ascii_isspace (s[name_start]))
        name_start++;
      while (name_end > name_start && g_ascii_isspace (s[name_end - 1]))
        name_end--;
      token.name_start = name_start;
      token.name_len = name_end - name_start;

      if (token.kind == TOK_DELIMITERS)
        {
          g_autofree char *inner = g_strndup (s + name_start, token.name_len);
          g_auto(GStrv) pair = g_strsplit_set (inner, " \t\r\n", -1);
          const char *first = NULL, *second = NULL;
          guint count = 0;

          for (guint i = 0; pair[i] != NULL; i++)
            if (*pair[i] != '\0')
              {
                if (count == 0)
                  first = pair[i];
                else if (count == 1)
                  second = pair[i];
                count++;
              }
          if (count != 2 || strchr (first, '=') != NULL || strchr (second, '=') != NULL ||
              strlen (first) >= 16 || strlen (second) >= 16)
            {
              add_problem (problems, t, tag_start, token.end - tag_start, FALSE,
                           "a delimiter change needs two delimiters without '=' or spaces, "
                           "shorter than 16 bytes: %s new-open new-close =%s", open, close);
              return FALSE;
            }
          g_strlcpy (open, first, sizeof open);
          g_strlcpy (close, second, sizeof close);
        }
      else if (token.kind != TOK_COMMENT)
        {
          const char *name = s + name_start;
          gsize len = token.name_len;
          gboolean dotted = token.kind != TOK_BLOCK;

          if ((token.kind == TOK_PARTIAL || token.kind == TOK_PARENT) && len > 0 && name[0] == '*')
            {
              /* "{{> * name }}": blanks may follow the star. */
              name++;
              len--;
              while (len > 0 && g_ascii_isspace (*name))
                {
                  name++;
                  len--;
                }
            }
          else if (token.kind == TOK_PARTIAL || token.kind == TOK_PARENT)
            dotted = FALSE;
          if (!valid_name (name, len, dotted))
            {
              g_autofree char *cut = g_strndup (s + tag_start, MIN (token.end - tag_start, 60));
              g_autofree char *shown = g_utf8_make_valid (cut, -1);

              if (token.name_len == 0)
                add_problem (problems, t, tag_start, token.end - tag_start, FALSE,
                             "'%s' names nothing", shown);
              else
                add_problem (problems, t, tag_start, token.end - tag_start, FALSE,
                             "'%s' is not a valid name (a name has no spaces, and dots only "
                             "between its parts)", shown);
              return FALSE;
            }
        }
      g_array_append_val (tokens, token);
      p = token.end;
    }
  return TRUE;
}

static gboolean
may_stand_alone (TokenKind kind)
{
  return kind != TOK_TEXT && kind != TOK_VAR && kind != TOK_RAW;
}

static gboolean
all_blank (const char *s,
           gsize       start,
           gsize       end)
{
  for (gsize k = start; k < end; k++)
    if (!is_blank (s[k]))
      return FALSE;
  return TRUE;
}

/* A line holding only tags that print nothing of their own, and blanks,
 * disappears whole: its blanks and its line break. Blanks before a
 * partial on such a line indent every line of the partial. The tags of a
 * line are those with no line break in the text between them (a tag
 * itself, a comment say, may hold line breaks). */
static void
apply_standalone_rules (SluiceMustache *t,
                        GArray         *tokens)
{
  const char *s = t->source;
  guint n = tokens->len;
  guint i = 0;

  while (i < n)
    {
      Token *before, *after;
      gboolean standalone = TRUE;
      gsize line_start, after_cut;
      const char *newline;
      guint last = i;

      if (g_array_index (tokens, Token, i).kind == TOK_TEXT)
        {
          i++;
          continue;
        }

      /* The tags of this line: i .. last. */
      for (guint k = i; ; )
        {
          Token *tag = &g_array_index (tokens, Token, k);
          Token *next = k + 1 < n ? &g_array_index (tokens, Token, k + 1) : NULL;

          standalone &= may_stand_alone (tag->kind);
          last = k;
          if (next != NULL && next->kind != TOK_TEXT)
            k++;
          else if (next != NULL && k + 2 < n && memchr (s + next->start, '\n', next->end - next->start) == NULL)
            {
              standalone &= all_blank (s, next->start, next->end);
              k += 2;
            }
          else
            break;
        }

      /* Blanks only from the start of the line, and to its end. */
      before = i > 0 ? &g_array_index (tokens, Token, i - 1) : NULL;
      after = last + 1 < n ? &g_array_index (tokens, Token, last + 1) : NULL;
      line_start = before != NULL ? before->start : 0;
      if (before != NULL)
        {
          const char *p = s + before->end;

          while (p > s + before->start && p[-1] != '\n')
            p--;
          line_start = (gsize) (p - s);
          standalone &= (p > s + before->start || i == 1) && all_blank (s, line_start, before->end);
        }
      after_cut = after != NULL ? after->end : 0;
      if (after != NULL)
        {
          newline = memchr (s + after->start, '\n', after->end - after->start);
          if (newline != NULL)
            {
              gsize stop = (gsize) (newline - s);

              if (stop > after->start && s[stop - 1] == '\r')
                stop--;
              standalone &= all_blank (s, after->start, stop);
              after_cut = (gsize) (newline - s) + 1;
            }
          else
            standalone &= last + 2 == n && all_blank (s, after->start, after->end);
        }

      if (standalone)
        {
          if (before != NULL)
            before->keep_end = MIN (before->keep_end, line_start);
          if (after != NULL)
            after->keep_start = MAX (after->keep_start, after_cut);
          for (guint k = i; k <= last; k++)
            {
              Token *token = &g_array_index (tokens, Token, k);

              if (token->kind == TOK_TEXT)
                token->keep_end = token->keep_start;
              else
                {
                  token->standalone = TRUE;
                  token->newline = after != NULL && s[after_cut - 1] == '\n';
                  token->indent_start = line_start;
                  token->indent_len = before != NULL ? before->end - line_start : 0;
                }
            }
        }
      i = last + 1;
    }
}

static NodeKind
node_kind (TokenKind kind)
{
  switch (kind)
    {
    case TOK_TEXT: return NODE_TEXT;
    case TOK_SECTION: return NODE_SECTION;
    case TOK_INVERTED: return NODE_INVERTED;
    case TOK_PARTIAL: return NODE_PARTIAL;
    case TOK_BLOCK: return NODE_BLOCK;
    case TOK_PARENT: return NODE_PARENT;
    case TOK_VAR:
    case TOK_RAW:
    default: return NODE_VAR;
    }
}

static gboolean
parse (SluiceMustache *t,
       GPtrArray      *problems)
{
  g_autoptr(GArray) tokens = g_array_new (FALSE, TRUE, sizeof (Token));
  g_autoptr(GArray) open = g_array_new (FALSE, FALSE, sizeof (guint));
  const char *s = t->source;

  if (!tokenize (t, tokens, problems))
    return FALSE;
  apply_standalone_rules (t, tokens);

  for (guint i = 0; i < tokens->len; i++)
    {
      Token *token = &g_array_index (tokens, Token, i);
      Node node = { 0 };

      if (token->kind == TOK_COMMENT || token->kind == TOK_DELIMITERS)
        continue;

      if (token->kind == TOK_TEXT)
        {
          if (token->keep_start >= token->keep_end)
            continue;
          node.kind = NODE_TEXT;
          node.offset = token->keep_start;
          node.text_len = token->keep_end - token->keep_start;
          g_array_append_val (t->nodes, node);
          continue;
        }

      node.offset = token->start;
      node.tag_len = token->end - token->start;

      if (token->kind == TOK_CLOSE)
        {
          Node *opener;

          node_set_name (&node, s + token->name_start, token->name_len, FALSE);
          if (open->len == 0)
            {
              add_problem (problems, t, token->start, node.tag_len, FALSE,
                           "'/%s' closes no section", node.name);
              node_clear (&node);
              return FALSE;
            }
          opener = &g_array_index (t->nodes, Node, g_array_index (open, guint, open->len - 1));
          if (!g_str_equal (opener->name, node.name) &&
              !(opener->dynamic && node.name[0] == '*' && g_str_equal (opener->name, node.name + 1)))
            {
              guint line, column;

              offset_to_position (s, opener->offset, &line, &column);
              add_problem (problems, t, token->start, node.tag_len, FALSE,
                           "'/%s' closes '%s%s%s', opened at line %u, column %u", node.name,
                           opener->kind == NODE_SECTION ? "#" :
                           opener->kind == NODE_INVERTED ? "^" :
                           opener->kind == NODE_BLOCK ? "$" : "<",
                           opener->dynamic ? "*" : "", opener->name, line, column);
              node_clear (&node);
              return FALSE;
            }
          opener->end = t->nodes->len;
          g_array_set_size (open, open->len - 1);
          node_clear (&node);
          continue;
        }

      node.kind = node_kind (token->kind);
      node.escape = token->kind == TOK_VAR;
      {
        const char *name = s + token->name_start;
        gsize len = token->name_len;

        if ((token->kind == TOK_PARTIAL || token->kind == TOK_PARENT) && name[0] == '*')
          {
            node.dynamic = TRUE;
            for (name++, len--; len > 0 && g_ascii_isspace (*name); name++, len--)
              ;
          }
        node_set_name (&node, name, len,
                       node.kind == NODE_VAR || node.kind == NODE_SECTION || node.kind == NODE_INVERTED ||
                       node.dynamic);
      }
      if (token->indent_len > 0 && token->kind != TOK_SECTION && token->kind != TOK_INVERTED)
        node.indent = g_strndup (s + token->indent_start, token->indent_len);
      node.standalone = token->standalone;
      node.newline = token->newline;

      g_array_append_val (t->nodes, node);
      if (node.kind == NODE_SECTION || node.kind == NODE_INVERTED ||
          node.kind == NODE_BLOCK || node.kind == NODE_PARENT)
        {
          guint index = t->nodes->len - 1;

          if (open->len >= SLUICE_MUSTACHE_MAX_NESTING)
            {
              add_problem (problems, t, node.offset, node.tag_len, FALSE,
                           "sections nest more than %u deep here", SLUICE_MUSTACHE_MAX_NESTING);
              return FALSE;
            }
          g_array_append_val (open, index);
        }
    }

  if (open->len > 0)
    {
      Node *opener = &g_array_index (t->nodes, Node, g_array_index (open, guint, open->len - 1));

      add_problem (problems, t, opener->offset, opener->tag_len, FALSE,
                   "'%s%s%s' is never closed: add '%s/%s%s' where it ends",
                   opener->kind == NODE_SECTION ? "#" : opener->kind == NODE_INVERTED ? "^" :
                   opener->kind == NODE_BLOCK ? "$" : "<",
                   opener->dynamic ? "*" : "", opener->name,
                   "{{", opener->name, "}}");
      return FALSE;
    }
  return TRUE;
}

/* ---- the library of partials ------------------------------------------ */

static void
partial_source_free (PartialSource *source)
{
  g_free (source->text);
  g_free (source->file);
  g_free (source);
}

SluiceMustacheLibrary *
sluice_mustache_library_new (SluiceMustacheFlags flags)
{
  SluiceMustacheLibrary *lib = g_new0 (SluiceMustacheLibrary, 1);

  g_atomic_ref_count_init (&lib->ref_count);
  lib->flags = flags;
  lib->max_output = SLUICE_MUSTACHE_DEFAULT_MAX_OUTPUT;
  lib->max_steps = SLUICE_MUSTACHE_MAX_RENDER_STEPS;
  g_mutex_init (&lib->lock);
  lib->sources = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) partial_source_free);
  lib->compiled = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) sluice_mustache_unref);
  lib->failed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return lib;
}

SluiceMustacheLibrary *
sluice_mustache_library_ref (SluiceMustacheLibrary *lib)
{
  g_atomic_ref_count_inc (&lib->ref_count);
  return lib;
}

void
sluice_mustache_library_unref (SluiceMustacheLibrary *lib)
{
  if (lib == NULL || !g_atomic_ref_count_dec (&lib->ref_count))
    return;
  g_hash_table_unref (lib->sources);
  g_hash_table_unref (lib->compiled);
  g_hash_table_unref (lib->failed);
  g_mutex_clear (&lib->lock);
  g_free (lib);
}

void
sluice_mustache_library_set_max_output (SluiceMustacheLibrary *lib,
                                        gsize                  max_output)
{
  lib->max_output = max_output;
}

void
sluice_mustache_library_set_data_name (SluiceMustacheLibrary *lib,
                                       const char            *data_name)
{
  lib->data_name = g_intern_string (data_name);
}

void
sluice_mustache_library_set_max_steps (SluiceMustacheLibrary *lib,
                                       guint64                max_steps)
{
  lib->max_steps = max_steps;
}

void
sluice_mustache_library_add_partial (SluiceMustacheLibrary *lib,
                                     const char            *name,
                                     const char            *source,
                                     const char            *file)
{
  PartialSource *partial = g_new0 (PartialSource, 1);

  partial->text = g_strdup (source);
  partial->file = g_strdup (file != NULL ? file : name);
  g_mutex_lock (&lib->lock);
  g_hash_table_replace (lib->sources, g_strdup (name), partial);
  g_mutex_unlock (&lib->lock);
}

gboolean
sluice_mustache_library_load_partials (SluiceMustacheLibrary  *lib,
                                       SluicePipeline         *pipeline,
                                       JsonNode               *partials,
                                       GError                **error)
{
  JsonObjectIter iter;
  const char *name;
  JsonNode *path;

  if (partials == NULL || !JSON_NODE_HOLDS_OBJECT (partials))
    return TRUE;
  json_object_iter_init (&iter, json_node_get_object (partials));
  while (json_object_iter_next (&iter, &name, &path))
    {
      g_autofree char *file = sluice_pipeline_resolve_path (pipeline, json_node_get_string (path));

      if (!sluice_mustache_library_load_partial (lib, name, file, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
sluice_mustache_library_load_partial (SluiceMustacheLibrary  *lib,
                                      const char             *name,
                                      const char             *path,
                                      GError                **error)
{
  g_autoptr(GError) local = NULL;
  g_autofree char *text = NULL;
  const char *bad;
  GStatBuf st;
  gsize len;

  /* Not a device or a pipe: reading one might never end. */
  if (g_stat (path, &st) == 0 && !S_ISREG (st.st_mode))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                   "partial '%s': %s is not a regular file", name, path);
      return FALSE;
    }
  if (g_stat (path, &st) == 0 && (gsize) st.st_size > SLUICE_MUSTACHE_MAX_PARTIAL_BYTES)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                   "partial '%s': %s is larger than %" G_GSIZE_FORMAT " MiB",
                   name, path, SLUICE_MUSTACHE_MAX_PARTIAL_BYTES >> 20);
      return FALSE;
    }
  if (!g_file_get_contents (path, &text, &len, &local))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                   "partial '%s': %s", name, local->message);
      return FALSE;
    }
  if (memchr (text, '\0', len) != NULL || !g_utf8_validate_len (text, len, &bad))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                   "partial '%s': %s is not UTF-8 text (byte %" G_GSIZE_FORMAT ")", name, path,
                   memchr (text, '\0', len) != NULL ? (gsize) ((char *) memchr (text, '\0', len) - text)
                                                    : (gsize) (bad - text));
      return FALSE;
    }
  sluice_mustache_library_add_partial (lib, name, text, path);
  return TRUE;
}

/* Every line of text, except an empty last one, starts with indent. */
static char *
indent_lines (const char *text,
              const char *indent)
{
  GString *out = g_string_sized_new (strlen (text) + 64);
  gboolean at_line_start = TRUE;

  for (const char *p = text; *p != '\0'; p++)
    {
      if (at_line_start)
        g_string_append (out, indent);
      g_string_append_c (out, *p);
      at_line_start = *p == '\n';
    }
  return g_string_free (out, FALSE);
}

/* The partial compiled with this indentation, compiled now if it was not
 * yet. NULL when there is no such partial (*missing set) or it does not
 * compile (its problems appended, once). */
static SluiceMustache *
library_get (SluiceMustacheLibrary *lib,
             const char            *name,
             const char            *indent,
             gboolean              *missing,
             GPtrArray             *problems)
{
  g_autofree char *key = g_strconcat (name, "\1", indent != NULL ? indent : "", NULL);
  g_autofree char *indented = NULL;
  SluiceMustache *t;
  PartialSource *source;

  *missing = FALSE;
  g_mutex_lock (&lib->lock);
  t = g_hash_table_lookup (lib->compiled, key);
  if (t != NULL || g_hash_table_contains (lib->failed, key))
    goto out;
  source = g_hash_table_lookup (lib->sources, name);
  if (source == NULL)
    {
      *missing = TRUE;
      goto out;
    }
  if (indent != NULL && *indent != '\0')
    indented = indent_lines (source->text, indent);
  t = template_new (indented != NULL ? indented : source->text, source->file, name);
  if (!parse (t, problems))
    {
      sluice_mustache_unref (t);
      t = NULL;
      g_hash_table_add (lib->failed, g_steal_pointer (&key));
      goto out;
    }
  g_hash_table_insert (lib->compiled, g_steal_pointer (&key), t);
out:
  g_mutex_unlock (&lib->lock);
  return t;
}

static char *
partial_names (SluiceMustacheLibrary *lib)
{
  g_autoptr(GList) names = NULL;
  GString *out = g_string_new (NULL);

  g_mutex_lock (&lib->lock);
  names = g_list_sort (g_hash_table_get_keys (lib->sources), (GCompareFunc) g_strcmp0);
  for (GList *l = names; l != NULL; l = l->next)
    g_string_append_printf (out, "%s%s", out->len > 0 ? ", " : "", (char *) l->data);
  g_mutex_unlock (&lib->lock);
  return g_string_free (out, FALSE);
}

/* Compiling a template also compiles every partial it names (and they
 * name), so that a missing or broken partial, or partials that include
 * each other, are found before anything is rendered. */
static void
walk_partials (SluiceMustacheLibrary *lib,
               SluiceMustache        *t,
               GPtrArray             *chain,
               GHashTable            *done,
               GPtrArray             *problems)
{
  for (guint i = 0; i < t->nodes->len; i++)
    {
      Node *node = &g_array_index (t->nodes, Node, i);
      SluiceMustache *partial;
      gboolean missing;
      gboolean loop = FALSE;

      if ((node->kind != NODE_PARTIAL && node->kind != NODE_PARENT) || node->dynamic)
        continue;

      for (guint k = 0; k < chain->len; k++)
        loop |= g_str_equal (g_ptr_array_index (chain, k), node->name);
      if (loop)
        {
          GString *path = g_string_new (NULL);

          for (guint k = 0; k < chain->len; k++)
            g_string_append_printf (path, "%s → ", (char *) g_ptr_array_index (chain, k));
          g_string_append (path, node->name);
          add_problem (problems, t, node->offset, node->tag_len, FALSE,
                       "partial '%s' includes itself (%s)", node->name, path->str);
          g_string_free (path, TRUE);
          continue;
        }

      /* Plain first: its problems have the file's own positions. */
      partial = library_get (lib, node->name, NULL, &missing, problems);
      if (missing)
        {
          g_autofree char *names = partial_names (lib);

          add_problem (problems, t, node->offset, node->tag_len, FALSE,
                       "no partial named '%s' (%s%s)", node->name,
                       *names != '\0' ? "declared: " : "declare it under partials:",
                       names);
          continue;
        }
      if (partial != NULL && node->indent != NULL)
        partial = library_get (lib, node->name, node->indent, &missing, problems);
      if (partial == NULL || g_hash_table_contains (done, partial))
        continue;
      g_hash_table_add (done, partial);
      g_ptr_array_add (chain, node->name);
      walk_partials (lib, partial, chain, done, problems);
      g_ptr_array_set_size (chain, chain->len - 1);
    }
}

SluiceMustache *
sluice_mustache_compile (SluiceMustacheLibrary *lib,
                         const char            *source,
                         GPtrArray             *problems)
{
  g_autoptr(SluiceMustache) t = template_new (source, NULL, NULL);
  g_autoptr(GPtrArray) local = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_mustache_problem_free);
  gboolean ok = TRUE;

  if (problems == NULL)
    problems = local;
  t->lib = sluice_mustache_library_ref (lib);
  if (!parse (t, problems))
    return NULL;

  if (!(lib->flags & SLUICE_MUSTACHE_LENIENT_PARTIALS))
    {
      g_autoptr(GPtrArray) chain = g_ptr_array_new ();
      g_autoptr(GHashTable) done = g_hash_table_new (NULL, NULL);
      guint before = problems->len;

      walk_partials (lib, t, chain, done, problems);
      for (guint i = before; i < problems->len; i++)
        ok &= ((SluiceMustacheProblem *) g_ptr_array_index (problems, i))->is_warning;
    }
  return ok ? g_steal_pointer (&t) : NULL;
}

/* ---- rendering -------------------------------------------------------- */

typedef struct {
  const char     *name;
  SluiceMustache *t;
  guint           index;
} Override;

typedef struct {
  SluiceMustacheLibrary *lib;
  GPtrArray             *stack;   /* JsonNode*, the innermost last */
  GString               *out;
  guint                  depth;     /* partials */
  guint                  nesting;   /* calls of render_range */
  GError               **error;
  guint64                steps;     /* nodes visited, bounded */
} Render;

static gboolean render_range (Render *r, SluiceMustache *t, guint begin, guint end, GArray *overrides);
static gboolean is_blank (char c);

static JsonNode *
lookup (Render  *r,
        char   **parts)
{
  if (parts == NULL)
    return r->stack->len > 0 ? g_ptr_array_index (r->stack, r->stack->len - 1) : NULL;

  for (guint i = r->stack->len; i-- > 0;)
    {
      JsonNode *frame = g_ptr_array_index (r->stack, i);
      JsonNode *value;

      if (frame == NULL || !JSON_NODE_HOLDS_OBJECT (frame) ||
          (value = json_object_get_member (json_node_get_object (frame), parts[0])) == NULL)
        continue;
      /* Found: the rest of a dotted name is looked up only in it. */
      for (guint k = 1; parts[k] != NULL; k++)
        {
          if (!JSON_NODE_HOLDS_OBJECT (value))
            return NULL;
          value = json_object_get_member (json_node_get_object (value), parts[k]);
          if (value == NULL)
            return NULL;
        }
      return value;
    }
  return NULL;
}

static gboolean
truthy (JsonNode *value)
{
  if (value == NULL || JSON_NODE_HOLDS_NULL (value))
    return FALSE;
  if (JSON_NODE_HOLDS_ARRAY (value))
    return json_array_get_length (json_node_get_array (value)) > 0;
  if (JSON_NODE_HOLDS_VALUE (value))
    {
      GType type = json_node_get_value_type (value);

      if (type == G_TYPE_BOOLEAN)
        return json_node_get_boolean (value);
      if (type == G_TYPE_STRING)
        return *json_node_get_string (value) != '\0';
    }
  return TRUE;
}

void
sluice_mustache_append_value (GString  *out,
                              JsonNode *value)
{
  if (value == NULL || JSON_NODE_HOLDS_NULL (value))
    return;
  if (JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_STRING)
    g_string_append (out, json_node_get_string (value));
  else if (JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_DOUBLE)
    sluice_json_append_double (out, json_node_get_double (value));
  else if (JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_INT64)
    g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (value));
  else if (JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_BOOLEAN)
    g_string_append (out, json_node_get_boolean (value) ? "true" : "false");
  else
    {
      g_autofree char *json = sluice_json_to_string (value);

      g_string_append (out, json);
    }
}

static void
append_escaped (GString    *out,
                const char *text,
                gsize       len)
{
  const char *run = text;

  for (const char *p = text; p < text + len; p++)
    {
      const char *entity;

      switch (*p)
        {
        case '&': entity = "&amp;"; break;
        case '"': entity = "&quot;"; break;
        case '<': entity = "&lt;"; break;
        case '>': entity = "&gt;"; break;
        default: continue;
        }
      g_string_append_len (out, run, p - run);
      g_string_append (out, entity);
      run = p + 1;
    }
  g_string_append_len (out, run, text + len - run);
}

/* RFC 4180: a field with a comma, a quote or a line break is quoted and
 * its quotes doubled; any other is written as it is. */
static void
csv_quote_since (GString *out,
                 gsize    before)
{
  g_autofree char *raw = NULL;

  if (strpbrk (out->str + before, ",\"\r\n") == NULL)
    return;
  raw = g_strdup (out->str + before);
  g_string_truncate (out, before);
  g_string_append_c (out, '"');
  for (const char *p = raw; *p != '\0'; p++)
    {
      if (*p == '"')
        g_string_append_c (out, '"');
      g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
}

static void
describe_place (GString        *message,
                SluiceMustache *t,
                Node           *node)
{
  guint line, column;

  offset_to_position (t->source, node->offset, &line, &column);
  if (t->partial != NULL)
    g_string_append_printf (message, " (partial '%s', line %u, column %u)", t->partial, line, column);
  else
    g_string_append_printf (message, " (line %u, column %u)", line, column);
}

static gboolean G_GNUC_PRINTF (4, 5)
fail (Render         *r,
      SluiceMustache *t,
      Node           *node,
      const char     *format,
      ...)
{
  GString *message = g_string_new (NULL);
  va_list args;

  va_start (args, format);
  g_string_append_vprintf (message, format, args);
  va_end (args);
  describe_place (message, t, node);
  g_set_error_literal (r->error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT, message->str);
  g_string_free (message, TRUE);
  return FALSE;
}

static gboolean
check_size (Render         *r,
            SluiceMustache *t,
            Node           *node)
{
  gsize max = r->lib->max_output;

  if (r->out->len <= max)
    return TRUE;
  if (max % (1 << 20) == 0)
    return fail (r, t, node, "passes %" G_GSIZE_FORMAT " MiB when rendered", max >> 20);
  return fail (r, t, node, "passes %" G_GSIZE_FORMAT " bytes when rendered", max);
}

static gboolean
render_var (Render         *r,
            SluiceMustache *t,
            Node           *node)
{
  JsonNode *value = lookup (r, node->parts);
  gsize before = r->out->len;
  const char *bad;

  if (value == NULL)
    {
      if (r->lib->flags & SLUICE_MUSTACHE_STRICT)
        return fail (r, t, node, "needs '%s', which the %s does not have", node->name,
                     r->lib->data_name != NULL ? r->lib->data_name : "input");
      return TRUE;
    }
  if (JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_STRING)
    {
      const char *text = json_node_get_string (value);
      gsize len = strlen (text);

      if (!g_utf8_validate_len (text, len, &bad))
        return fail (r, t, node, "cannot use '%s': it is not valid UTF-8 (byte %" G_GSIZE_FORMAT ")",
                     node->name, (gsize) (bad - text));
      if (node->escape && (r->lib->flags & SLUICE_MUSTACHE_ESCAPE_HTML))
        append_escaped (r->out, text, len);
      else
        g_string_append_len (r->out, text, len);
    }
  else
    {
      sluice_mustache_append_value (r->out, value);
      /* Numbers and booleans are ASCII; strings inside objects may not
       * be UTF-8. */
      if ((JSON_NODE_HOLDS_OBJECT (value) || JSON_NODE_HOLDS_ARRAY (value)) &&
          !g_utf8_validate_len (r->out->str + before, r->out->len - before, &bad))
        {
          g_string_truncate (r->out, before);
          return fail (r, t, node, "cannot use '%s': it holds text that is not valid UTF-8", node->name);
        }
      if (node->escape && (r->lib->flags & SLUICE_MUSTACHE_ESCAPE_HTML) &&
          memchr (r->out->str + before, '"', r->out->len - before) != NULL)
        {
          g_autofree char *raw = g_strndup (r->out->str + before, r->out->len - before);

          g_string_truncate (r->out, before);
          append_escaped (r->out, raw, strlen (raw));
        }
    }
  if (node->escape && (r->lib->flags & SLUICE_MUSTACHE_ESCAPE_CSV))
    csv_quote_since (r->out, before);
  return check_size (r, t, node);
}

static const char *
override_find (GArray     *overrides,
               const char *name,
               guint      *index)
{
  for (guint i = 0; overrides != NULL && i < overrides->len; i++)
    if (g_str_equal (g_array_index (overrides, Override, i).name, name))
      {
        *index = i;
        return name;
      }
  return NULL;
}

/* The partial a tag names (a dynamic name is looked up first); NULL and
 * TRUE when it renders as nothing. */
static gboolean
resolve_partial (Render          *r,
                 SluiceMustache  *t,
                 Node            *node,
                 SluiceMustache **partial)
{
  g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_mustache_problem_free);
  const char *name = node->name;
  gboolean missing;

  *partial = NULL;
  if (node->dynamic)
    {
      JsonNode *value = lookup (r, node->parts);

      if (value == NULL || !JSON_NODE_HOLDS_VALUE (value) ||
          json_node_get_value_type (value) != G_TYPE_STRING)
        {
          if (r->lib->flags & SLUICE_MUSTACHE_LENIENT_PARTIALS)
            return TRUE;
          return fail (r, t, node, "needs '%s' to be the name of a partial", node->name);
        }
      name = json_node_get_string (value);
    }
  if (r->depth >= SLUICE_MUSTACHE_MAX_DEPTH)
    return fail (r, t, node, "nests partials more than %u deep", SLUICE_MUSTACHE_MAX_DEPTH);

  *partial = library_get (r->lib, name, node->indent, &missing, problems);
  if (*partial != NULL)
    return TRUE;
  if (missing && (r->lib->flags & SLUICE_MUSTACHE_LENIENT_PARTIALS))
    return TRUE;
  if (missing)
    return fail (r, t, node, "names partial '%s', which is not declared", name);
  return fail (r, t, node, "names partial '%s', which does not compile", name);
}

static gsize
blanks (const char *text,
        gsize       len)
{
  gsize n = 0;

  while (n < len && is_blank (text[n]))
    n++;
  return n;
}

/* A block given in a parent's call replaces the block of that name. A
 * block defined on lines of its own loses the indentation of its first
 * line; put where a block stands on lines of its own, it takes that
 * block's indentation (that of its default content, else of its tag), line
 * by line, and ends its last line. */
static gboolean
render_override (Render         *r,
                 SluiceMustache *t,
                 guint           index,
                 Override       *o,
                 GArray         *overrides)
{
  Node *node = &g_array_index (t->nodes, Node, index);
  Node *definition = &g_array_index (o->t->nodes, Node, o->index);
  g_autoptr(GString) text = NULL;
  GString *out = r->out;
  const char *indent = "";
  gsize indent_len = 0, strip = 0;
  gboolean ok;

  if (!node->standalone && !definition->standalone)
    return render_range (r, o->t, o->index + 1, definition->end, overrides);

  text = g_string_new (NULL);
  r->out = text;
  ok = render_range (r, o->t, o->index + 1, definition->end, overrides);
  r->out = out;
  if (!ok)
    return FALSE;

  if (definition->standalone)
    strip = blanks (text->str, text->len);
  if (node->standalone)
    {
      Node *first = index + 1 < node->end ? &g_array_index (t->nodes, Node, index + 1) : NULL;

      indent_len = first != NULL && first->kind == NODE_TEXT ? blanks (t->source + first->offset, first->text_len) : 0;
      if (indent_len > 0)
        indent = t->source + first->offset;
      else if (node->indent != NULL)
        indent_len = strlen (indent = node->indent);
    }

  for (const char *line = text->str; line < text->str + text->len;)
    {
      const char *next = memchr (line, '\n', text->str + text->len - line);
      gsize len = next != NULL ? (gsize) (next - line) + 1 : (gsize) (text->str + text->len - line);
      gsize cut = MIN (strip, blanks (line, len));

      g_string_append_len (out, indent, indent_len);
      g_string_append_len (out, line + cut, len - cut);
      line += len;
    }
  if (node->standalone && node->newline && text->len > 0 && text->str[text->len - 1] != '\n')
    g_string_append_c (out, '\n');
  return check_size (r, t, node);
}

static gboolean render_nodes (Render *r, SluiceMustache *t, guint begin, guint end, GArray *overrides);

static gboolean
render_range (Render         *r,
              SluiceMustache *t,
              guint           begin,
              guint           end,
              GArray         *overrides)
{
  gboolean ok;

  if (r->nesting >= SLUICE_MUSTACHE_MAX_RENDER_NESTING)
    return fail (r, t, &g_array_index (t->nodes, Node, begin > 0 ? begin - 1 : 0),
                 "nests sections and partials more than %u deep", SLUICE_MUSTACHE_MAX_RENDER_NESTING);
  r->nesting++;
  ok = render_nodes (r, t, begin, end, overrides);
  r->nesting--;
  return ok;
}

static gboolean
render_nodes (Render         *r,
              SluiceMustache *t,
              guint           begin,
              guint           end,
              GArray         *overrides)
{
  const char *source = t->source;

  for (guint i = begin; i < end; i++)
    {
      Node *node = &g_array_index (t->nodes, Node, i);

      if (G_UNLIKELY (++r->steps > r->lib->max_steps))
        return fail (r, t, node, "takes more than %" G_GUINT64_FORMAT " rendering steps for this input "
                     "(sections over lists found through outer sections multiply, and so do partials "
                     "that include each other several times)", r->lib->max_steps);
      switch (node->kind)
        {
        case NODE_TEXT:
          g_string_append_len (r->out, source + node->offset, node->text_len);
          if (!check_size (r, t, node))
            return FALSE;
          break;

        case NODE_VAR:
          if (!render_var (r, t, node))
            return FALSE;
          break;

        case NODE_SECTION:
          {
            JsonNode *value = lookup (r, node->parts);

            if (!truthy (value))
              ;
            else if (JSON_NODE_HOLDS_ARRAY (value))
              {
                JsonArray *items = json_node_get_array (value);

                for (guint k = 0; k < json_array_get_length (items); k++)
                  {
                    gboolean ok;

                    g_ptr_array_add (r->stack, json_array_get_element (items, k));
                    ok = render_range (r, t, i + 1, node->end, overrides);
                    g_ptr_array_set_size (r->stack, r->stack->len - 1);
                    if (!ok)
                      return FALSE;
                  }
              }
            else
              {
                gboolean ok;

                g_ptr_array_add (r->stack, value);
                ok = render_range (r, t, i + 1, node->end, overrides);
                g_ptr_array_set_size (r->stack, r->stack->len - 1);
                if (!ok)
                  return FALSE;
              }
            i = node->end - 1;
          }
          break;

        case NODE_INVERTED:
          if (!truthy (lookup (r, node->parts)) &&
              !render_range (r, t, i + 1, node->end, overrides))
            return FALSE;
          i = node->end - 1;
          break;

        case NODE_BLOCK:
          {
            guint k;

            if (override_find (overrides, node->name, &k) != NULL)
              {
                Override *o = &g_array_index (overrides, Override, k);

                if (!render_override (r, t, i, o, overrides))
                  return FALSE;
              }
            else if (!render_range (r, t, i + 1, node->end, overrides))
              return FALSE;
            i = node->end - 1;
          }
          break;

        case NODE_PARTIAL:
        case NODE_PARENT:
          {
            g_autoptr(GArray) inner = NULL;
            SluiceMustache *partial;
            gboolean ok;

            if (!resolve_partial (r, t, node, &partial))
              return FALSE;
            if (node->kind == NODE_PARENT)
              {
                /* The blocks given here apply inside the parent, unless
                 * a template further out already gave the same block. */
                inner = g_array_new (FALSE, FALSE, sizeof (Override));
                if (overrides != NULL)
                  g_array_append_vals (inner, overrides->data, overrides->len);
                for (guint k = i + 1; k < node->end;)
                  {
                    Node *child = &g_array_index (t->nodes, Node, k);
                    guint unused;

                    if (child->kind == NODE_BLOCK && override_find (overrides, child->name, &unused) == NULL)
                      {
                        Override o = { child->name, t, k };

                        g_array_append_val (inner, o);
                      }
                    k = (child->kind == NODE_SECTION || child->kind == NODE_INVERTED ||
                         child->kind == NODE_BLOCK || child->kind == NODE_PARENT) ? child->end : k + 1;
                  }
                i = node->end - 1;
              }
            if (partial == NULL)
              break;
            r->depth++;
            ok = render_range (r, partial, 0, partial->nodes->len, inner != NULL ? inner : overrides);
            r->depth--;
            if (!ok)
              return FALSE;
          }
          break;
        }
    }
  return TRUE;
}

gboolean
sluice_mustache_render (SluiceMustache  *self,
                        JsonNode        *data,
                        GString         *out,
                        GError         **error)
{
  g_autoptr(GPtrArray) stack = g_ptr_array_new ();
  Render r = { self->lib, stack, out, 0, 0, error, 0 };
  gsize before = out->len;

  g_return_val_if_fail (self->lib != NULL, FALSE);
  g_ptr_array_add (stack, data);
  if (render_range (&r, self, 0, self->nodes->len, NULL))
    return TRUE;
  g_string_truncate (out, before);
  return FALSE;
}

/* ---- checking names against the input schema -------------------------- */

typedef enum {
  NAME_UNKNOWN,     /* the schema allows anything here */
  NAME_DECLARED,
  NAME_UNDECLARED,
} NameState;

/* A frame of the check: the schema of a context, or a scalar (names are
 * never found in it), or NULL (anything may be there). */
typedef struct {
  JsonNode *schema;
  gboolean  scalar;
} Frame;

typedef struct {
  JsonNode   *root;        /* the input schema, for local $refs */
  const char *schema_name; /* "input", "output": for the warnings */
  GArray     *frames;      /* Frame */
  GPtrArray  *problems;
  GHashTable *reported;    /* "file\1offset" */
  guint       budget;      /* nodes left to visit */
  guint       warnings;
  guint       depth;
  SluiceMustacheLibrary *lib;
} Check;

static JsonObject *
schema_object (Check    *c,
               JsonNode *schema)
{
  for (guint hops = 0; schema != NULL && JSON_NODE_HOLDS_OBJECT (schema) && hops < 16; hops++)
    {
      JsonObject *object = json_node_get_object (schema);
      const char *ref = sluice_json_get_string (object, "$ref");
      JsonNode *target;

      if (ref == NULL || ref[0] != '#')
        return object;
      target = sluice_json_pointer_resolve (c->root, ref + 1);
      if (target == NULL)
        return NULL;
      schema = target;
    }
  return NULL;
}

static NameState
classify (Check      *c,
          JsonNode   *schema,
          const char *name,
          JsonNode  **member,
          guint       depth)
{
  static const char * const combinators[] = { "allOf", "anyOf", "oneOf" };
  JsonObject *object;
  JsonNode *node;
  gboolean constrained = FALSE;
  NameState state = NAME_UNDECLARED;

  *member = NULL;
  if (schema == NULL || depth > 16)
    return NAME_UNKNOWN;
  if (JSON_NODE_HOLDS_VALUE (schema) && json_node_get_value_type (schema) == G_TYPE_BOOLEAN)
    return json_node_get_boolean (schema) ? NAME_UNKNOWN : NAME_UNDECLARED;
  if ((object = schema_object (c, schema)) == NULL)
    return NAME_UNKNOWN;

  if ((node = json_object_get_member (object, "properties")) != NULL && JSON_NODE_HOLDS_OBJECT (node))
    {
      constrained = TRUE;
      if ((*member = json_object_get_member (json_node_get_object (node), name)) != NULL)
        return NAME_DECLARED;
    }
  if ((node = json_object_get_member (object, "required")) != NULL && JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *required = json_node_get_array (node);

      constrained = TRUE;
      for (guint i = 0; i < json_array_get_length (required); i++)
        if (g_strcmp0 (json_array_get_string_element (required, i), name) == 0)
          return NAME_DECLARED;
    }
  for (guint k = 0; k < G_N_ELEMENTS (combinators); k++)
    if ((node = json_object_get_member (object, combinators[k])) != NULL && JSON_NODE_HOLDS_ARRAY (node))
      {
        JsonArray *list = json_node_get_array (node);

        constrained = TRUE;
        for (guint i = 0; i < json_array_get_length (list); i++)
          {
            JsonNode *found;
            NameState inner = classify (c, json_array_get_element (list, i), name, &found, depth + 1);

            if (inner == NAME_DECLARED)
              {
                *member = found;
                return NAME_DECLARED;
              }
            if (inner == NAME_UNKNOWN)
              state = NAME_UNKNOWN;
          }
      }
  if (json_object_has_member (object, "patternProperties") ||
      json_object_has_member (object, "$dynamicRef") ||
      json_object_has_member (object, "unevaluatedProperties"))
    return NAME_UNKNOWN;
  node = json_object_get_member (object, "additionalProperties");
  if (node != NULL && !(JSON_NODE_HOLDS_VALUE (node) && !json_node_get_boolean (node)))
    return NAME_UNKNOWN;
  return constrained ? state : NAME_UNKNOWN;
}

/* What a section on a value of this schema puts on the stack. */
static Frame
section_frame (Check    *c,
               JsonNode *schema)
{
  JsonObject *object = schema_object (c, schema);
  const char *type;
  JsonNode *items;

  if (object == NULL)
    return (Frame) { NULL, FALSE };
  type = sluice_json_get_string (object, "type");
  items = json_object_get_member (object, "items");
  if ((type != NULL && g_str_equal (type, "array")) || items != NULL)
    {
      if (items == NULL || json_object_has_member (object, "prefixItems"))
        return (Frame) { NULL, FALSE };
      return (Frame) { items, (object = schema_object (c, items)) != NULL &&
                              sluice_json_get_string (object, "type") != NULL &&
                              !g_str_equal (sluice_json_get_string (object, "type"), "object") &&
                              !g_str_equal (sluice_json_get_string (object, "type"), "array") };
    }
  if (type != NULL && !g_str_equal (type, "object"))
    return (Frame) { NULL, TRUE };
  return (Frame) { schema, FALSE };
}

static void
check_warn (Check          *c,
            SluiceMustache *t,
            Node           *node,
            const char     *format,
            ...) G_GNUC_PRINTF (4, 5);

static void
check_warn (Check          *c,
            SluiceMustache *t,
            Node           *node,
            const char     *format,
            ...)
{
  g_autofree char *key = g_strdup_printf ("%s\1%u", t->file != NULL ? t->file : "", node->offset);
  g_autofree char *message = NULL;
  va_list args;

  if (c->warnings >= SLUICE_MUSTACHE_MAX_WARNINGS || !g_hash_table_add (c->reported, g_steal_pointer (&key)))
    return;
  c->warnings++;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  add_problem (c->problems, t, node->offset, node->tag_len, TRUE, "%s", message);
}

/* The schema a name stands for, NULL when unknown; warns when the input
 * schema says the name cannot be there. */
static JsonNode *
check_name (Check          *c,
            SluiceMustache *t,
            Node           *node,
            char          **parts)
{
  JsonNode *schema = NULL;
  gboolean declared = FALSE;

  if (parts == NULL)
    return c->frames->len > 0 ? g_array_index (c->frames, Frame, c->frames->len - 1).schema : NULL;

  for (guint i = c->frames->len; i-- > 0 && !declared;)
    {
      Frame *frame = &g_array_index (c->frames, Frame, i);
      NameState state;

      if (frame->scalar)
        continue;
      state = classify (c, frame->schema, parts[0], &schema, 0);
      if (state == NAME_UNKNOWN)
        return NULL;
      declared = state == NAME_DECLARED;
    }
  if (!declared)
    {
      check_warn (c, t, node, "'%s' is not declared by the pipeline's %s schema", parts[0], c->schema_name);
      return NULL;
    }
  for (guint k = 1; parts[k] != NULL; k++)
    {
      NameState state = classify (c, schema, parts[k], &schema, 0);

      if (state == NAME_UNKNOWN)
        return NULL;
      if (state == NAME_UNDECLARED)
        {
          GString *prefix = g_string_new (parts[0]);

          for (guint m = 1; m < k; m++)
            g_string_append_printf (prefix, ".%s", parts[m]);
          check_warn (c, t, node, "'%s' is not declared by the pipeline's %s schema "
                      "('%s' has no property '%s')", node->name, c->schema_name, prefix->str, parts[k]);
          g_string_free (prefix, TRUE);
          return NULL;
        }
    }
  return schema;
}

static void
check_range (Check          *c,
             SluiceMustache *t,
             guint           begin,
             guint           end)
{
  for (guint i = begin; i < end; i++)
    {
      Node *node = &g_array_index (t->nodes, Node, i);

      if (c->budget == 0)
        return;
      c->budget--;
      switch (node->kind)
        {
        case NODE_TEXT:
          break;
        case NODE_VAR:
          check_name (c, t, node, node->parts);
          break;
        case NODE_INVERTED:
          check_name (c, t, node, node->parts);
          check_range (c, t, i + 1, node->end);
          i = node->end - 1;
          break;
        case NODE_SECTION:
          {
            JsonNode *schema = check_name (c, t, node, node->parts);
            Frame frame = schema != NULL ? section_frame (c, schema) : (Frame) { NULL, FALSE };

            g_array_append_val (c->frames, frame);
            check_range (c, t, i + 1, node->end);
            g_array_set_size (c->frames, c->frames->len - 1);
            i = node->end - 1;
          }
          break;
        case NODE_BLOCK:
          check_range (c, t, i + 1, node->end);
          i = node->end - 1;
          break;
        case NODE_PARTIAL:
        case NODE_PARENT:
          {
            SluiceMustache *partial;
            gboolean missing;

            if (node->kind == NODE_PARENT)
              {
                check_range (c, t, i + 1, node->end);
                i = node->end - 1;
              }
            if (node->dynamic)
              {
                check_name (c, t, node, node->parts);
                break;
              }
            partial = library_get (c->lib, node->name, NULL, &missing, NULL);
            if (partial == NULL || c->depth >= 16)
              break;
            c->depth++;
            check_range (c, partial, 0, partial->nodes->len);
            c->depth--;
          }
          break;
        }
    }
}

void
sluice_mustache_check_names (SluiceMustache *self,
                             JsonNode       *schema,
                             GPtrArray      *problems)
{
  sluice_mustache_check_names_in (self, schema, "input", problems);
}

void
sluice_mustache_check_names_in (SluiceMustache *self,
                                JsonNode       *schema,
                                const char     *schema_name,
                                GPtrArray      *problems)
{
  g_autoptr(GArray) frames = g_array_new (FALSE, FALSE, sizeof (Frame));
  g_autoptr(GHashTable) reported = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  Check c = { schema, schema_name, frames, problems, reported, 100000, 0, 0, self->lib };
  Frame root = { schema, FALSE };

  if (schema == NULL)
    return;
  g_array_append_val (frames, root);
  check_range (&c, self, 0, self->nodes->len);
}
