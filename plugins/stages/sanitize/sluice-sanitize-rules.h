/* sluice-sanitize-rules.h — what the sanitize stage looks for: the kinds
 * it redacts (built in or configured patterns), the deny rules and the
 * prompt-injection markers.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

#include "sluice-regex-private.h"
#include "sluice-sanitize-scan.h"

G_BEGIN_DECLS

/* How two matches are judged the same value (the same placeholder). */
typedef enum {
  SLUICE_SANITIZE_SAME_TEXT,      /* byte for byte */
  SLUICE_SANITIZE_SAME_CASELESS,  /* ASCII case aside (e-mail) */
  SLUICE_SANITIZE_SAME_DIGITS,    /* the digits (cards) */
  SLUICE_SANITIZE_SAME_PHONE,     /* the digits, with a leading '+' or 00 as '+' */
  SLUICE_SANITIZE_SAME_ALNUM,     /* letters and digits, upper case (IBAN) */
} SluiceSanitizeSame;

typedef struct
{
  char               *name;    /* rule name: email, phone, ... or a custom label */
  char               *label;   /* in placeholders: EMAIL gives [EMAIL_1] */
  SluiceSanitizeFind  find;    /* a scanner, or */
  SluiceRegex        *regex;   /* a pattern */
  SluiceSanitizeSame  same;
} SluiceSanitizeRule;

/* The built-in kinds, in the order overlapping matches are preferred. */
extern const char * const sluice_sanitize_builtin_kinds[];

SluiceSanitizeRule *sluice_sanitize_rule_new_builtin (const char          *kind);
SluiceSanitizeRule *sluice_sanitize_rule_new_pattern (const char          *name,
                                                      const char          *label,
                                                      const char          *pattern,
                                                      gboolean             caseless,
                                                      GError             **error);
void                sluice_sanitize_rule_free        (SluiceSanitizeRule  *rule);
/* SLUICE_REGEX_GAVE_UP only from a pattern that backtracks too much. */
SluiceRegexResult   sluice_sanitize_rule_find        (SluiceSanitizeRule  *rule,
                                                      const char          *text,
                                                      gsize                length,
                                                      gsize                from,
                                                      gsize               *start,
                                                      gsize               *end);
/* The text two matches share when they are the same value. */
char               *sluice_sanitize_rule_same_key    (SluiceSanitizeRule  *rule,
                                                      const char          *text,
                                                      gsize                length);

/* The prompt-injection markers, compiled: SluiceSanitizeRule with a
 * name and a regex. */
GPtrArray          *sluice_sanitize_injection_rules_new (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SluiceSanitizeRule, sluice_sanitize_rule_free)

G_END_DECLS
