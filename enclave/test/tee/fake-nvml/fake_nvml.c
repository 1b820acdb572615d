/*
 * A fake libnvidia-ml.so for the NVML device's tests: it exports the NVML symbols the device calls,
 * with the real struct layouts (checked below against the sizes in specs/nvidia-gpu-format.md §1),
 * and replays evidence from files, so the whole FFI path runs without a GPU.
 *
 * Configuration, read from the environment at nvmlInit_v2:
 *   FAKE_NVML_DIR        folder with report-<i>.bin and chain-<i>.pem per GPU index (read at each call,
 *                        so a test can swap them between calls); the nonce of each report request is
 *                        written to nonce-<i>.bin
 *   FAKE_NVML_COUNT      number of GPUs (default 1, at most 16)
 *   FAKE_NVML_ARCH       nvmlDeviceArchitecture_t of every GPU (default 9, Hopper)
 *   FAKE_NVML_CC         ccFeature (default 1)
 *   FAKE_NVML_DEVTOOLS   devToolsMode (default 0)
 *   FAKE_NVML_READY      value of nvmlSystemGetConfComputeGpusReadyState (default 1)
 *   FAKE_NVML_FAIL       "<function>:<nvmlReturn_t>": that function returns the code
 *   FAKE_NVML_REPORT_SIZE  attestationReportSize to claim instead of the file's (a lying driver)
 *
 * Test-only exports: fake_nvml_init_count() (nvmlInit_v2 calls minus nvmlShutdown calls) and
 * fake_nvml_report_calls() (report requests since load).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_UNKNOWN 999

/* Layouts from nvml.h (NVIDIA/go-nvml gen/nvml/nvml.h). */
typedef struct {
  unsigned int environment;
  unsigned int ccFeature;
  unsigned int devToolsMode;
} nvmlConfComputeSystemState_t;

typedef struct {
  unsigned int certChainSize;
  unsigned int attestationCertChainSize;
  unsigned char certChain[0x1000];
  unsigned char attestationCertChain[0x1400];
} nvmlConfComputeGpuCertificate_t;

typedef struct {
  unsigned int isCecAttestationReportPresent;
  unsigned int attestationReportSize;
  unsigned int cecAttestationReportSize;
  unsigned char nonce[0x20];
  unsigned char attestationReport[0x2000];
  unsigned char cecAttestationReport[0x1000];
} nvmlConfComputeGpuAttestationReport_t;

_Static_assert(sizeof(nvmlConfComputeSystemState_t) == 12, "nvmlConfComputeSystemState_t is 12 bytes");
_Static_assert(sizeof(nvmlConfComputeGpuCertificate_t) == 9224, "nvmlConfComputeGpuCertificate_t is 9224 bytes");
_Static_assert(sizeof(nvmlConfComputeGpuAttestationReport_t) == 12332,
               "nvmlConfComputeGpuAttestationReport_t is 12332 bytes");

#define MAX_DEVICES 16

struct fake_device {
  unsigned int index;
};
typedef struct fake_device *nvmlDevice_t;

static struct fake_device devices[MAX_DEVICES];
static int init_count = 0;
static int report_calls = 0;
static unsigned int device_count = 1;
static unsigned int arch = 9;
static unsigned int cc_feature = 1;
static unsigned int devtools = 0;
static unsigned int ready = 1;
static long report_size_override = -1;
static char dir[1024] = ".";
static char fail_function[128] = "";
static int fail_code = 0;

static unsigned int env_uint(const char *name, unsigned int fallback) {
  const char *value = getenv(name);
  return value == NULL || *value == '\0' ? fallback : (unsigned int)strtoul(value, NULL, 0);
}

static nvmlReturn_t injected(const char *function) {
  return fail_code != 0 && strcmp(function, fail_function) == 0 ? fail_code : NVML_SUCCESS;
}

/* Reads a whole file into buffer; returns its size, or -1 when missing or larger than capacity. */
static long read_file(const char *name, unsigned int index, unsigned char *buffer, size_t capacity) {
  char path[1200];
  snprintf(path, sizeof path, "%s/%s-%u.%s", dir, name, index, strcmp(name, "chain") == 0 ? "pem" : "bin");
  FILE *file = fopen(path, "rb");
  if (file == NULL) return -1;
  size_t size = fread(buffer, 1, capacity, file);
  int more = fgetc(file) != EOF;
  fclose(file);
  return more ? -1 : (long)size;
}

nvmlReturn_t nvmlInit_v2(void) {
  const char *folder = getenv("FAKE_NVML_DIR");
  if (folder != NULL) snprintf(dir, sizeof dir, "%s", folder);
  device_count = env_uint("FAKE_NVML_COUNT", 1);
  if (device_count > MAX_DEVICES) device_count = MAX_DEVICES;
  arch = env_uint("FAKE_NVML_ARCH", 9);
  cc_feature = env_uint("FAKE_NVML_CC", 1);
  devtools = env_uint("FAKE_NVML_DEVTOOLS", 0);
  ready = env_uint("FAKE_NVML_READY", 1);
  const char *size = getenv("FAKE_NVML_REPORT_SIZE");
  report_size_override = size == NULL || *size == '\0' ? -1 : strtol(size, NULL, 0);
  fail_function[0] = '\0';
  fail_code = 0;
  const char *fail = getenv("FAKE_NVML_FAIL");
  const char *colon = fail == NULL ? NULL : strchr(fail, ':');
  if (colon != NULL && (size_t)(colon - fail) < sizeof fail_function) {
    memcpy(fail_function, fail, (size_t)(colon - fail));
    fail_function[colon - fail] = '\0';
    fail_code = atoi(colon + 1);
  }
  for (unsigned int i = 0; i < MAX_DEVICES; i++) devices[i].index = i;
  nvmlReturn_t rc = injected("nvmlInit_v2");
  if (rc == NVML_SUCCESS) init_count++;
  return rc;
}

nvmlReturn_t nvmlShutdown(void) {
  if (init_count == 0) return NVML_ERROR_UNINITIALIZED;
  init_count--;
  return injected("nvmlShutdown");
}

nvmlReturn_t nvmlSystemGetConfComputeState(nvmlConfComputeSystemState_t *state) {
  if (init_count == 0) return NVML_ERROR_UNINITIALIZED;
  if (state == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  nvmlReturn_t rc = injected("nvmlSystemGetConfComputeState");
  if (rc != NVML_SUCCESS) return rc;
  state->environment = cc_feature ? 2 : 0;
  state->ccFeature = cc_feature;
  state->devToolsMode = devtools;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetConfComputeGpusReadyState(unsigned int *isAcceptingWork) {
  if (init_count == 0) return NVML_ERROR_UNINITIALIZED;
  if (isAcceptingWork == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  nvmlReturn_t rc = injected("nvmlSystemGetConfComputeGpusReadyState");
  if (rc != NVML_SUCCESS) return rc;
  *isAcceptingWork = ready;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount) {
  if (init_count == 0) return NVML_ERROR_UNINITIALIZED;
  if (deviceCount == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  nvmlReturn_t rc = injected("nvmlDeviceGetCount_v2");
  if (rc != NVML_SUCCESS) return rc;
  *deviceCount = device_count;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
  if (init_count == 0) return NVML_ERROR_UNINITIALIZED;
  if (device == NULL || index >= device_count) return NVML_ERROR_INVALID_ARGUMENT;
  nvmlReturn_t rc = injected("nvmlDeviceGetHandleByIndex_v2");
  if (rc != NVML_SUCCESS) return rc;
  *device = &devices[index];
  return NVML_SUCCESS;
}

static int valid(nvmlDevice_t device) {
  return device >= devices && device < devices + device_count;
}

nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t device, unsigned int *architecture) {
  if (init_count == 0) return NVML_ERROR_UNINITIALIZED;
  if (!valid(device) || architecture == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  nvmlReturn_t rc = injected("nvmlDeviceGetArchitecture");
  if (rc != NVML_SUCCESS) return rc;
  *architecture = arch;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetConfComputeGpuCertificate(nvmlDevice_t device, nvmlConfComputeGpuCertificate_t *cert) {
  if (init_count == 0) return NVML_ERROR_UNINITIALIZED;
  if (!valid(device) || cert == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  nvmlReturn_t rc = injected("nvmlDeviceGetConfComputeGpuCertificate");
  if (rc != NVML_SUCCESS) return rc;
  memset(cert, 0, sizeof *cert);
  long size = read_file("chain", device->index, cert->attestationCertChain, sizeof cert->attestationCertChain);
  if (size < 0) return NVML_ERROR_NOT_FOUND;
  cert->attestationCertChainSize = (unsigned int)size;
  /* certChain (the device's own chain, unused by verifiers) is left empty, as it is on some boards. */
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetConfComputeGpuAttestationReport(nvmlDevice_t device,
                                                          nvmlConfComputeGpuAttestationReport_t *report) {
  if (init_count == 0) return NVML_ERROR_UNINITIALIZED;
  if (!valid(device) || report == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  report_calls++;
  nvmlReturn_t rc = injected("nvmlDeviceGetConfComputeGpuAttestationReport");
  if (rc != NVML_SUCCESS) return rc;
  /* Record the nonce the caller put in the struct: the input half of this call. */
  char path[1200];
  snprintf(path, sizeof path, "%s/nonce-%u.bin", dir, device->index);
  FILE *file = fopen(path, "wb");
  if (file != NULL) {
    fwrite(report->nonce, 1, sizeof report->nonce, file);
    fclose(file);
  }
  long size = read_file("report", device->index, report->attestationReport, sizeof report->attestationReport);
  if (size < 0) return NVML_ERROR_NOT_FOUND;
  report->attestationReportSize = report_size_override >= 0 ? (unsigned int)report_size_override : (unsigned int)size;
  report->isCecAttestationReportPresent = 0;
  report->cecAttestationReportSize = 0;
  return NVML_SUCCESS;
}

int fake_nvml_init_count(void) { return init_count; }

int fake_nvml_report_calls(void) { return report_calls; }
