import "./components/tw-app";
