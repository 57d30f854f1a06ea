/* sluice-schema-regex.c — ECMA-262 patterns on PCRE2
 *
 * JSON Schema patterns are ECMA-262 regular expressions (with the "u"
 * flag, unanchored); they run on PCRE2, GLib's own engine, through
 * SluiceRegex (sluice-regex.c: JIT, no allocation per match).  Before
 * compiling, the pattern is rewritten where the two read the same text
 * differently:
 *  - `\d` `\w` `\s` and `\D` `\W` `\S` outside classes: ECMA's sets (ASCII
 *    digits and word characters; ECMA's whitespace list, which has U+FEFF,
 *    U+00A0 and the other Unicode spaces, and lacks U+0085); inside a class
 *    the positive ones expand the same way;
 *  - `.`: anything but the ECMA line terminators (\n \r U+2028 U+2029);
 *  - `\b` inside a class: backspace;
 *  - `\uXXXX` (a surrogate pair becomes one code point) and `\u{X…}`;
 *  - `\p{…}`/`\P{…}` with ECMA's long names (`Letter`, `Script=Greek`,
 *    `gc=Lu`, `sc=`, `scx=`) in PCRE's spelling;
 *  - `[^]` (any character) and `[]` (nothing).
 * SluiceRegex compiles without PCRE2_UCP, so `\d` `\w` `\b` (and their
 * negations, also inside classes) are ASCII as in ECMA-262, and with
 * PCRE2_DOLLAR_ENDONLY, so `$` does not match before a final newline.
 * Known gaps: `\S` inside a class is PCRE2's (ASCII whitespace excluded,
 * so U+00A0 and the other ECMA spaces are in it); lookbehind must have a
 * bounded length (PCRE2); syntax ECMA rejects in "u" mode (`\a`, `\e`,
 * `(?P<name>…)`, `(?i)`, `(?#…)`) is accepted with its PCRE2 meaning.
 */
#define G_LOG_DOMAIN "sluice-schema"

#include "sluice-schema-node-private.h"
#include "sluice-regex-private.h"

#include <string.h>

#define ECMA_WORD "A-Za-z0-9_"
#define ECMA_SPACE "\\t\\n\\x0b\\f\\r \\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}"

static const struct {
  const char *ecma;
  const char *pcre;
} category_names[] = {
  { "Letter", "L" }, { "Cased_Letter", "L&" }, { "Uppercase_Letter", "Lu" }, { "Lowercase_Letter", "Ll" },
  { "Titlecase_Letter", "Lt" }, { "Modifier_Letter", "Lm" }, { "Other_Letter", "Lo" }, { "Mark", "M" },
  { "Combining_Mark", "M" }, { "Nonspacing_Mark", "Mn" }, { "Spacing_Mark", "Mc" }, { "Enclosing_Mark", "Me" },
  { "Number", "N" }, { "Decimal_Number", "Nd" }, { "digit", "Nd" }, { "Letter_Number", "Nl" },
  { "Other_Number", "No" }, { "Punctuation", "P" }, { "punct", "P" }, { "Connector_Punctuation", "Pc" },
  { "Dash_Punctuation", "Pd" }, { "Open_Punctuation", "Ps" }, { "Close_Punctuation", "Pe" },
  { "Initial_Punctuation", "Pi" }, { "Final_Punctuation", "Pf" }, { "Other_Punctuation", "Po" },
  { "Symbol", "S" }, { "Math_Symbol", "Sm" }, { "Currency_Symbol", "Sc" }, { "Modifier_Symbol", "Sk" },
  { "Other_Symbol", "So" }, { "Separator", "Z" }, { "Space_Separator", "Zs" }, { "Line_Separator", "Zl" },
  { "Paragraph_Separator", "Zp" }, { "Other", "C" }, { "Control", "Cc" }, { "cntrl", "Cc" },
  { "Format", "Cf" }, { "Surrogate", "Cs" }, { "Private_Use", "Co" }, { "Unassigned", "Cn" },
};

static int
hex_value (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Reads exactly four hex digits; -1 if they are not there. */
static gint32
read_hex4 (const char *p)
{
  gint32 value = 0;

  for (int i = 0; i < 4; i++)
    {
      int h = hex_value (p[i]);

      if (h < 0)
        return -1;
      value = value * 16 + h;
    }
  return value;
}

/* `\p{…}` body in PCRE's spelling. */
static void
append_property (GString    *out,
                 const char *body,
                 gsize       len)
{
  g_autofree char *name = g_strndup (body, len);
  const char *value = name;
  const char *eq = strchr (name, '=');

  if (eq != NULL)
    value = eq + 1;  /* Script=, sc=, scx=, General_Category=, gc=: PCRE takes the bare value */
  for (guint i = 0; i < G_N_ELEMENTS (category_names); i++)
    if (strcmp (category_names[i].ecma, value) == 0)
      {
        value = category_names[i].pcre;
        break;
      }
  g_string_append (out, value);
}

static char *
translate (const char *src)
{
  GString *out = g_string_sized_new (strlen (src) + 16);
  gboolean in_class = FALSE;

  for (const char *p = src; *p != '\0'; p++)
    {
      if (*p == '\\' && p[1] != '\0')
        {
          char c = *++p;

          switch (c)
            {
            case 'd':
              g_string_append (out, in_class ? "0-9" : "[0-9]");
              continue;
            case 'D':
              g_string_append (out, in_class ? "\\D" : "[^0-9]");
              continue;
            case 'w':
              g_string_append (out, in_class ? ECMA_WORD : "[" ECMA_WORD "]");
              continue;
            case 'W':
              g_string_append (out, in_class ? "\\W" : "[^" ECMA_WORD "]");
              continue;
            case 's':
              g_string_append (out, in_class ? ECMA_SPACE : "[" ECMA_SPACE "]");
              continue;
            case 'S':
              g_string_append (out, in_class ? "\\S" : "[^" ECMA_SPACE "]");
              continue;
            case 'b':
              if (!in_class)
                break;
              g_string_append (out, "\\x{8}");
              continue;
            case 'u':
              if (p[1] == '{')
                {
                  const char *close = strchr (p, '}');

                  if (close != NULL)
                    {
                      g_string_append (out, "\\x");
                      g_string_append_len (out, p + 1, close - p);
                      p = close;
                      continue;
                    }
                }
              else
                {
                  gint32 unit = read_hex4 (p + 1);

                  if (unit >= 0)
                    {
                      p += 4;
                      /* a surrogate pair is one code point */
                      if (unit >= 0xD800 && unit <= 0xDBFF && p[1] == '\\' && p[2] == 'u')
                        {
                          gint32 low = read_hex4 (p + 3);

                          if (low >= 0xDC00 && low <= 0xDFFF)
                            {
                              unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                              p += 6;
                            }
                        }
                      g_string_append_printf (out, "\\x{%x}", (guint) unit);
                      continue;
                    }
                }
              g_string_append (out, "\\u");
              continue;
            case 'p':
            case 'P':
              if (p[1] == '{')
                {
                  const char *close = strchr (p, '}');

                  if (close != NULL)
                    {
                      g_string_append_c (out, '\\');
                      g_string_append_c (out, c);
                      g_string_append_c (out, '{');
                      append_property (out, p + 2, (gsize) (close - p - 2));
                      g_string_append_c (out, '}');
                      p = close;
                      continue;
                    }
                }
              break;
            default:
              break;
            }
          g_string_append_c (out, '\\');
          g_string_append_c (out, c);
          continue;
        }

      if (in_class)
        {
          if (*p == ']')
            in_class = FALSE;
          else if (*p == '[')
            {
              /* a literal '[' in an ECMA class; PCRE could read "[:" as POSIX */
              g_string_append (out, "\\[");
              continue;
            }
          g_string_append_c (out, *p);
          continue;
        }

      switch (*p)
        {
        case '[':
          if (p[1] == '^' && p[2] == ']')
            {
              g_string_append (out, "[\\s\\S]");
              p += 2;
            }
          else if (p[1] == ']')
            {
              g_string_append (out, "(?!)");
              p += 1;
            }
          else
            {
              in_class = TRUE;
              g_string_append_c (out, '[');
              if (p[1] == '^')
                g_string_append_c (out, *++p);
              /* ECMA: a ']' right after '[' or '[^' ends the class (handled
               * above for the empty ones); PCRE would take it literally */
            }
          break;
        case '.':
          g_string_append (out, "[^\\n\\r\\x{2028}\\x{2029}]");
          break;
        default:
          g_string_append_c (out, *p);
          break;
        }
    }
  return g_string_free (out, FALSE);
}

/* Compiles an ECMA-262 pattern.  The error message is PCRE2's. */
SluiceRegex *
schema_regex_new (const char  *ecma_pattern,
                  GError     **error)
{
  g_autofree char *pcre = translate (ecma_pattern);

  return sluice_regex_new (pcre, error);
}

/* Whether @regex matches anywhere in @str, spending from @steps; see
 * sluice_regex_match_full(): an engine error is not "no match". */
SluiceRegexResult
schema_regex_search (SluiceRegex  *regex,
                     const char   *str,
                     gsize         length,
                     guint64      *steps,
                     GError      **error)
{
  return sluice_regex_match_full (regex, str, length, steps, error);
}
