/* LD_PRELOADed into the ranks of a multi-host SageMaker job: gethostname() returns this host's
 * name in the job (resourceconfig.json's "current_host", e.g. algo-2) instead of the container's,
 * which is the same on every host ("aws" or similar) and would make Open MPI and NCCL take all
 * hosts for one. Without a readable resourceconfig.json it is the real gethostname(). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int copy_current_host(const char* text, char* out, size_t size);

static int job_host_name(char* out, size_t size) {
  const char* root = getenv("RINGTRAIN_SAGEMAKER_ROOT");
  if (!root || !*root) root = getenv("SAGEMAKER_BASE_DIR");
  if (!root || !*root) root = "/opt/ml";
  char path[4096];
  if (snprintf(path, sizeof path, "%s/input/config/resourceconfig.json", root) >= (int)sizeof path)
    return -1;
  FILE* file = fopen(path, "r");
  if (!file) return -1;
  /* On the heap: gethostname() may run on a thread with a small stack. */
  enum { kMaxConfig = 1 << 20 };
  char* text = malloc(kMaxConfig);
  if (!text) {
    fclose(file);
    return -1;
  }
  const size_t length = fread(text, 1, kMaxConfig - 1, file);
  fclose(file);
  text[length] = '\0';
  const int found = copy_current_host(text, out, size);
  free(text);
  return found;
}

static int copy_current_host(const char* text, char* out, size_t size) {
  const char* key = strstr(text, "\"current_host\"");
  if (!key) return -1;
  const char* colon = strchr(key + strlen("\"current_host\""), ':');
  if (!colon) return -1;
  const char* start = strchr(colon, '"');
  if (!start) return -1;
  ++start;
  const char* end = strchr(start, '"');
  if (!end || end == start) return -1;
  const size_t name = (size_t)(end - start);
  if (name + 1 > size) {
    errno = ENAMETOOLONG;
    return -2;
  }
  memcpy(out, start, name);
  out[name] = '\0';
  return 0;
}

int gethostname(char* name, size_t size) {
  const int found = job_host_name(name, size);
  if (found == 0) return 0;
  if (found == -2) return -1;
  int (*real)(char*, size_t) = (int (*)(char*, size_t))dlsym(RTLD_NEXT, "gethostname");
  if (!real) {
    errno = ENOSYS;
    return -1;
  }
  return real(name, size);
}
