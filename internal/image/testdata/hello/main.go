// Command hello is the payload of the image package's build test.
package main

func main() { println("hello") }
