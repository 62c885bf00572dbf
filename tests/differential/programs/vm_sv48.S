/* Sv48 translation from S-mode: the vm_sv39 checks with a fourth level above them
   (body in vm_paging.inc). */
#include "common.h"
#define SATP_MODE 9
#define LEVELS 4
#include "vm_paging.inc"
