/* sluice-sanitize-rules.c — the built-in redaction kinds, configured
 * patterns and the prompt-injection markers (see sluice-sanitize-rules.h)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-sanitize-rules.h"

#include <sluice.h>
#include <string.h>

const char * const sluice_sanitize_builtin_kinds[] = {
  "api_key", "card", "iban", "email", "phone", NULL
};

/* API keys by the shapes their issuers give them, then secrets by where
 * they stand: after "Bearer" or "key=", "token:", "secret=" and the like
 * (only the value is redacted: \K starts the match after the name). A
 * key is random, so each shape also wants a digit somewhere: that keeps
 * "sk-learn-is-a-great-library" and "token: authentication_required"
 * out. That digit is looked for in the next 64 characters only: an
 * unbounded look-ahead from every "sk-" of "sk-sk-sk-..." would read
 * the rest of the text each time. */
static const char api_key_pattern[] =
  "\\b(?:"
    "sk-(?=[A-Za-z0-9_-]{0,64}[0-9])[A-Za-z0-9_-]{20,}"           /* OpenAI, Anthropic sk-ant- */
    "|AIza[0-9A-Za-z_-]{35}"                                   /* Google */
    "|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}" /* GitHub */
    "|(?:AKIA|ASIA)[0-9A-Z]{16}"                               /* AWS access key id */
    "|xox[abposr]-(?=[A-Za-z0-9-]{0,64}[0-9])[A-Za-z0-9-]{10,}"     /* Slack */
  ")(?![A-Za-z0-9_-])"
  "|\\b(?i:bearer)\\s+\\K(?=[A-Za-z0-9._~+/-]{0,64}[0-9])[A-Za-z0-9._~+/-]{16,}=*"
  "|(?<![A-Za-z0-9])(?i:api[_-]?key|access[_-]?key|secret(?:[_-]?key)?|(?:access[_-]?|auth[_-]?)?token|key|password|passwd)"
    "[\"']?\\s*[:=]\\s*[\"']?\\K(?=[A-Za-z0-9+/_.-]{0,64}[0-9])[A-Za-z0-9+/_.-]{16,}={0,2}";

SluiceSanitizeRule *
sluice_sanitize_rule_new_builtin (const char *kind)
{
  SluiceSanitizeRule *rule = g_new0 (SluiceSanitizeRule, 1);
  g_autoptr(GError) error = NULL;

  rule->name = g_strdup (kind);
  rule->label = g_ascii_strup (kind, -1);
  if (g_str_equal (kind, "email"))
    {
      rule->find = sluice_sanitize_find_email;
      rule->same = SLUICE_SANITIZE_SAME_CASELESS;
    }
  else if (g_str_equal (kind, "phone"))
    {
      rule->find = sluice_sanitize_find_phone;
      rule->same = SLUICE_SANITIZE_SAME_PHONE;
    }
  else if (g_str_equal (kind, "card"))
    {
      rule->find = sluice_sanitize_find_card;
      rule->same = SLUICE_SANITIZE_SAME_DIGITS;
    }
  else if (g_str_equal (kind, "iban"))
    {
      rule->find = sluice_sanitize_find_iban;
      rule->same = SLUICE_SANITIZE_SAME_ALNUM;
    }
  else if (g_str_equal (kind, "api_key"))
    {
      rule->regex = sluice_regex_new (api_key_pattern, &error);
      g_assert_no_error (error);
      rule->same = SLUICE_SANITIZE_SAME_TEXT;
    }
  else
    g_assert_not_reached ();
  return rule;
}

SluiceSanitizeRule *
sluice_sanitize_rule_new_pattern (const char  *name,
                                  const char  *label,
                                  const char  *pattern,
                                  gboolean     caseless,
                                  GError     **error)
{
  SluiceRegex *regex = sluice_regex_new_full (pattern, caseless ? SLUICE_REGEX_CASELESS : SLUICE_REGEX_DEFAULT,
                                              error);
  SluiceSanitizeRule *rule;

  if (regex == NULL)
    return NULL;
  rule = g_new0 (SluiceSanitizeRule, 1);
  rule->name = g_strdup (name);
  rule->label = label != NULL ? g_ascii_strup (label, -1) : NULL;
  rule->regex = regex;
  rule->same = SLUICE_SANITIZE_SAME_TEXT;
  return rule;
}

void
sluice_sanitize_rule_free (SluiceSanitizeRule *rule)
{
  if (rule == NULL)
    return;
  g_free (rule->name);
  g_free (rule->label);
  g_clear_pointer (&rule->regex, sluice_regex_free);
  g_free (rule);
}

SluiceRegexResult
sluice_sanitize_rule_find (SluiceSanitizeRule *rule,
                           const char         *text,
                           gsize               length,
                           gsize               from,
                           gsize              *start,
                           gsize              *end)
{
  if (rule->find != NULL)
    return rule->find (text, length, from, start, end) ? SLUICE_REGEX_FOUND : SLUICE_REGEX_NO_MATCH;
  return sluice_regex_find (rule->regex, text, length, from, start, end);
}

char *
sluice_sanitize_rule_same_key (SluiceSanitizeRule *rule,
                               const char         *text,
                               gsize               length)
{
  GString *key = g_string_sized_new (length + 1);

  for (gsize i = 0; i < length; i++)
    switch (rule->same)
      {
      case SLUICE_SANITIZE_SAME_TEXT:
        g_string_append_c (key, text[i]);
        break;
      case SLUICE_SANITIZE_SAME_CASELESS:
        g_string_append_c (key, g_ascii_tolower (text[i]));
        break;
      case SLUICE_SANITIZE_SAME_DIGITS:
      case SLUICE_SANITIZE_SAME_PHONE:
        if (g_ascii_isdigit (text[i]) || (i == 0 && text[i] == '+'))
          g_string_append_c (key, text[i]);
        break;
      case SLUICE_SANITIZE_SAME_ALNUM:
      default:
        if (g_ascii_isalnum (text[i]))
          g_string_append_c (key, g_ascii_toupper (text[i]));
        break;
      }
  /* 0049 30 ... is +49 30 ... */
  if (rule->same == SLUICE_SANITIZE_SAME_PHONE && g_str_has_prefix (key->str, "00"))
    g_string_overwrite_len (g_string_erase (key, 0, 1), 0, "+", 1);
  return g_string_free (key, FALSE);
}

/* Phrases that try to take over the model, matched without regard to
 * case (but the names DAN, STAN, DUDE and "Do Anything Now", which are
 * people and plain words otherwise); only their rule names are ever
 * reported. Each wants the wording of an attack, not its topic: "ignore
 * the previous message", "the original instructions" and "god mode" are
 * what customers write. */
static const struct {
  const char *name;
  const char *pattern;
} injection_markers[] = {
  { "ignore_previous",
    "\\b(?:ignore|forget|disregard|skip|override|bypass)\\s+"
    "(?:(?:all|any|every|the|your|my|of|these|those|everything)\\s+)*"
    "(?:previous|prior|above|earlier|preceding|foregoing|former|initial|original)\\s+"
    "(?:instructions?|prompts?|directions?|rules|guidelines|commands?)" },
  { "disregard_system_prompt",
    "\\b(?:ignore|forget|disregard|override|bypass)\\s+(?:(?:the|your|all|any)\\s+)*"
    "(?:system\\s+(?:prompt|message|instructions?)|safety\\s+(?:rules|guidelines|filters?|instructions?)"
    "|guardrails|content\\s+polic(?:y|ies))" },
  { "reveal_system_prompt",
    "\\b(?:reveal|show|print|display|repeat|output|leak|dump|tell\\s+me|what\\s+(?:is|are|was|were))\\s+"
    "(?:me\\s+)?(?:(?:your|the|all|of|verbatim|exact)\\s+)*"
    "(?:system\\s+(?:prompt|message)|(?:initial|hidden|secret)\\s+(?:instructions|prompt)"
    "|(?:original|previous)\\s+prompt)" },
  { "dan",
    "\\byou\\s+are\\s+(?:now\\s+)?(?-i:DAN|STAN|DUDE)\\b|\\b(?-i:Do\\s+Anything\\s+Now)\\b"
    "|\\b(?:(?-i:DAN)|jailbreak)\\s+mode\\b" },
  { "roleplay_jailbreak",
    "\\b(?:pretend|imagine|act\\s+as\\s+(?:if|though))\\s+(?:that\\s+)?you\\s+(?:are|have|were)\\s+"
    "(?:no\\s+(?:restrictions|rules|limits|filters|guidelines)|an?\\s+(?:unrestricted|unfiltered|uncensored|evil|jailbroken)\\b)"
    "|\\byou\\s+are\\s+no\\s+longer\\s+(?:bound|restricted|an?\\s+(?:AI|assistant|language\\s+model))"
    "|\\bfrom\\s+now\\s+on,?\\s+you\\s+(?:are|will\\s+(?:act|be|respond))\\s+(?:as\\s+)?(?:an?\\s+)?"
    "(?:unrestricted|unfiltered|uncensored|evil|DAN)\\b" },
  { "special_tokens",
    "<\\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|begin_of_text|end_of_text"
    "|start_header_id|end_header_id|eot_id|eom_id)\\|>|\\[/?INST\\]|<</?SYS>>|<(?:start|end)_of_turn>" },
};

GPtrArray *
sluice_sanitize_injection_rules_new (void)
{
  GPtrArray *rules = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_sanitize_rule_free);

  for (guint i = 0; i < G_N_ELEMENTS (injection_markers); i++)
    {
      g_autoptr(GError) error = NULL;
      SluiceSanitizeRule *rule = sluice_sanitize_rule_new_pattern (injection_markers[i].name, NULL,
                                                                   injection_markers[i].pattern,
                                                                   TRUE, &error);

      g_assert_no_error (error);
      g_ptr_array_add (rules, rule);
    }
  return rules;
}
