/* Sv57 translation from S-mode: the vm_sv39 checks with two more levels above them
   (body in vm_paging.inc). */
#include "common.h"
#define SATP_MODE 10
#define LEVELS 5
#include "vm_paging.inc"
