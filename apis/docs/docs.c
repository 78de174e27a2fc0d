/*
 * docs.c - lookups in the generated table of .proto comments (docs.h).
 */
#include "apis/docs/docs.h"

#include <stddef.h>
#include <string.h>

static const char *find(const char *type, const char *member)
{
    for (unsigned long i = 0; type != NULL && i < kumo_docs_table_count; i++) {
        const kumo_docs_entry *e = &kumo_docs_table[i];
        if (strcmp(e->type, type) != 0)
            continue;
        if (member == NULL ? e->member == NULL : e->member != NULL && !strcmp(e->member, member))
            return e->text;
    }
    return NULL;
}

const char *kumo_docs_type(const char *type_full_name)
{
    return find(type_full_name, NULL);
}

const char *kumo_docs_member(const char *type_full_name, const char *member)
{
    return member ? find(type_full_name, member) : NULL;
}
