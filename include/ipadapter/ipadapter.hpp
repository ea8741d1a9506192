// ipadapter.cpp: the whole public C++ API.
#pragma once
#include "ipadapter/embedder.h"
#include "ipadapter/engine.h"
#include "ipadapter/error.h"
#include "ipadapter/image.h"
#include "ipadapter/inspect.h"
#include "ipadapter/io.h"
#include "ipadapter/request.h"
#include "ipadapter/types.h"
