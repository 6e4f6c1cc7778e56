package bus

import "crypto/rand"

var randRead = rand.Read
