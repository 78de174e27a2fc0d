/*
 * fields.c - `get --field-selector`: kumod filters on metadata.name and
 * metadata.namespace (the terms it indexes); kumoctl checks every other term
 * itself on the object's JSON form, so any field can select:
 * status.phase=Running, spec.connection!=aws-use1. As in Kubernetes, a term
 * is PATH=VALUE, PATH==VALUE or PATH!=VALUE, terms are joined by commas and
 * all must hold, and a field that is absent reads as "".
 */
#include "cmd/kumoctl/remote.h"

#include <string.h>

/* The text a field selector compares: strings, numbers and booleans as written, else "". */
static const char *field_text(const kumo_value *root, const char *path)
{
    const kumo_value *v = root;
    char key[KUMOCTL_FIELD_TEXT];
    for (const char *p = path; v != NULL && *p;) {
        size_t n = strcspn(p, ".");
        snprintf(key, sizeof(key), "%.*s", (int)n, p);
        v = kumo_codec_value_get(v, key);
        p += n + (p[n] == '.');
    }
    if (v == NULL)
        return "";
    if (v->type == KUMO_VALUE_BOOL)
        return v->boolean ? "true" : "false";
    return (v->type == KUMO_VALUE_STRING || v->type == KUMO_VALUE_NUMBER) ? v->text : "";
}

int kumoctl_field_selector_parse(const char *command, const char *text, kumoctl_field_selector *out)
{
    memset(out, 0, sizeof(*out));
    for (const char *p = text; p && *p;) {
        size_t n = strcspn(p, ",");
        char term[2 * KUMOCTL_FIELD_TEXT];
        snprintf(term, sizeof(term), "%.*s", (int)n, p);
        p += n + (p[n] == ',');
        char *op = strstr(term, "!=");
        int negate = op != NULL;
        if (op == NULL)
            op = strchr(term, '=');
        if (op == NULL || op == term)
            return kumoctl_usage_error(command,
                                       "--field-selector \"%s\": each term is FIELD=VALUE, "
                                       "FIELD==VALUE or FIELD!=VALUE",
                                       text);
        const char *value = op + (negate || op[1] == '=' ? 2 : 1);
        *op = '\0';
        if (!strcmp(term, "metadata.name") || !strcmp(term, "metadata.namespace")) {
            size_t len = strlen(out->server);
            snprintf(out->server + len, sizeof(out->server) - len, "%s%s%s%s", len ? "," : "", term,
                     negate ? "!=" : "=", value);
            continue;
        }
        if (out->count == KUMOCTL_FIELD_TERMS)
            return kumoctl_usage_error(command, "--field-selector: at most %d terms",
                                       KUMOCTL_FIELD_TERMS);
        kumoctl_field_term *t = &out->terms[out->count++];
        snprintf(t->path, sizeof(t->path), "%.*s", (int)sizeof(t->path) - 1, term);
        snprintf(t->value, sizeof(t->value), "%.*s", (int)sizeof(t->value) - 1, value);
        t->negate = negate;
    }
    return KUMOCTL_EXIT_OK;
}

int kumoctl_field_selector_matches(const kumoctl_field_selector *s, const ProtobufCMessage *object)
{
    if (s->count == 0)
        return 1;
    kumo_value *root = kumoctl_object_to_value(object);
    int match = root != NULL;
    for (int i = 0; match && i < s->count; i++)
        match = (strcmp(field_text(root, s->terms[i].path), s->terms[i].value) == 0) !=
                s->terms[i].negate;
    kumo_codec_value_destroy(root);
    return match;
}
