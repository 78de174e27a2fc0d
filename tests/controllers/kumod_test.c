/*
 * kumod_test.c - kumod as a process: the agent bus it serves dies with it,
 * even when kumod is killed with SIGKILL (no orphan nats-server holds the
 * port until the next start).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/controllers/fixture.h"

extern char **environ;

/* 1 while pid runs; a zombie nobody reaps does not run. */
static int pid_running(pid_t pid)
{
    char path[64], stat[512] = "";
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(stat, 1, sizeof(stat) - 1, f);
    fclose(f);
    stat[n] = '\0';
    const char *close_paren = strrchr(stat, ')');
    return close_paren && close_paren[1] == ' ' && close_paren[2] != 'Z' && close_paren[2] != 'X';
}

/* The pid in the agent bus's pid file once it names a running nats-server; 0 before. */
static pid_t agent_bus_pid(const char *data_dir)
{
    char path[700], cmdline[512] = "";
    snprintf(path, sizeof(path), "%s/agent-bus.pid", data_dir);
    FILE *f = fopen(path, "r");
    int pid = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%d", &pid) != 1)
        pid = 0;
    fclose(f);
    snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
    if (pid <= 1 || (f = fopen(path, "r")) == NULL)
        return 0;
    size_t n = fread(cmdline, 1, sizeof(cmdline) - 1, f);
    fclose(f);
    cmdline[n] = '\0';
    return strstr(cmdline, "nats-server") && pid_running(pid) ? (pid_t)pid : 0;
}

static pid_t kumod_spawn(const char *url, const char *data_dir, const char *log)
{
    char kumod[1024];
    kumo_test_build_path("bin/kumod", kumod, sizeof(kumod));
    const char *argv[] = {kumod,       "--nats",
                          url,         "--data-dir",
                          data_dir,    "--controllers",
                          "migration", "--http-listen",
                          "",          "--metrics-listen",
                          "none",      "--log-level",
                          "warn",      NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, kumod, &actions, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    return rc == 0 ? pid : 0;
}

KUMO_TEST(kumod_agent_bus_dies_with_kumod)
{
    api_fixture f; /* the API bus and a kumod serving the API */
    api_fixture_start(&f);
    char data[600], log[600];
    snprintf(data, sizeof(data), "%s/kumod-killed", f.dir);
    snprintf(log, sizeof(log), "%s/kumod-killed.log", f.dir);
    pid_t kumod = kumod_spawn(f.url, data, log);
    KUMO_REQUIRE(kumod > 0);
    pid_t bus = 0;
    double deadline = kumo_test_now() + 60;
    while ((bus = agent_bus_pid(data)) == 0 && kumo_test_now() < deadline)
        api_sleep_ms(50);
    KUMO_EXPECT(bus > 0); /* else kumod's log (kumod-killed.log) says why */
    kill(kumod, SIGKILL);
    int status;
    waitpid(kumod, &status, 0);
    deadline = kumo_test_now() + 20;
    while (bus > 0 && pid_running(bus) && kumo_test_now() < deadline)
        api_sleep_ms(50);
    int survived = bus > 0 && pid_running(bus);
    KUMO_EXPECT(!survived);
    if (survived)
        kill(bus, SIGKILL); /* leave nothing behind, whatever the outcome */
    api_fixture_stop(&f);
}
