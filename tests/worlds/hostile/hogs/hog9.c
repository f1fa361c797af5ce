/* /hogs/hog9 - see hog.h */
#define HOG_ID 9
#define HOG_MB 48
#include "hog.h"
