/*
 * A stand-in for bcryptprimitives.dll, which Wine 8.0 lacks: Rust's std on Windows imports
 * ProcessPrng from it, so without it every test binary exits (status 53) before main.
 * ProcessPrng fills a buffer with random bytes; this one asks RtlGenRandom
 * (advapi32!SystemFunction036), which Wine has. Built once by .ci/windows/runner.sh with mingw;
 * used only to run the Windows tests under Wine, never shipped.
 */
#include <windows.h>

BOOLEAN NTAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
