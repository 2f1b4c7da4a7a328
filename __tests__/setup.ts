// Jest setup shared by every test file: cdktf's matchers for the infrastructure tests.
import { Testing } from "cdktf";

Testing.setupJest();
