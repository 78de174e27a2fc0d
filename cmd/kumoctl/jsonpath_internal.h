/*
 * jsonpath_internal.h - the parsed form of a JSONPath template, shared by
 * the parser (jsonpath.c) and the evaluator (jsonpath_eval.c).
 */
#ifndef KUMOCTL_JSONPATH_INTERNAL_H
#define KUMOCTL_JSONPATH_INTERNAL_H

#include "cmd/kumoctl/jsonpath.h"

typedef enum step_type {
    STEP_FIELDS,    /* .name or ['a','b'] */
    STEP_RECURSIVE, /* .. */
    STEP_WILDCARD,  /* .* or [*] */
    STEP_SLICES,    /* [n], [a:b:c], [0,2] */
    STEP_FILTER,    /* [?(...)] */
} step_type;

typedef struct jp_slice {
    long value[3];
    int known[3];
    int derived; /* [n] means [n:n+1] */
} jp_slice;

typedef struct jp_path jp_path;

typedef struct jp_operand {
    jp_path *path;      /* @.x or $.x; else literal */
    kumo_value literal; /* string, number or bool */
} jp_operand;

typedef enum filter_op { OP_EXISTS, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE } filter_op;

typedef struct jp_filter {
    jp_operand left, right;
    filter_op op;
} jp_filter;

typedef struct jp_step {
    step_type type;
    char **names;
    size_t name_count;
    jp_slice *slices;
    size_t slice_count;
    jp_filter *filter;
} jp_step;

struct jp_path {
    int from_root;
    jp_step *steps;
    size_t count;
};

typedef enum node_type { NODE_TEXT, NODE_PATH, NODE_RANGE, NODE_END } node_type;

typedef struct jp_node {
    node_type type;
    char *text;   /* NODE_TEXT */
    jp_path path; /* NODE_PATH, NODE_RANGE */
    size_t end;   /* NODE_RANGE: index of its NODE_END */
} jp_node;

struct kumoctl_jsonpath {
    jp_node *nodes;
    size_t count;
};

#endif
